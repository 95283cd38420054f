/* decode_gif.c — the first frame of a GIF, as PIL 12 reads it (GifImagePlugin and its LZW decoder).
 *
 * What PIL does, and so what this does:
 * - The canvas is the logical screen, grown to hold the first frame when the frame reaches past it; a
 *   frame of zero width or height is an error.  Only the first frame is looked at.
 * - Pixels the frame does not cover hold palette index 0, or the frame's transparent index when its
 *   graphic control extension has one (not the background colour); convert("RGB") then maps indices
 *   through the frame's palette (local, else global), black past its end.  A palette that is the identity
 *   (entry i = grey i), or none, makes PIL open the frame as greyscale: index i is grey i.
 * - A header, extension or descriptor cut short raises; bytes between blocks that are none of ',' '!'
 *   ';' are skipped; a graphic control extension shorter than 3 bytes (4 with a transparent index) raises.
 * - The LZW data is decoded until the frame is full: an end code or the end of the data before that is a
 *   truncated file ("image file is truncated"), a code past the table is broken data.  PIL hands its
 *   decoder the data 64 KiB at a time and only stops at an end code once nothing is left to read, so an
 *   end code followed by more than that much data is read past — this decoder does the same.
 * Work: one pass over the bytes up to the first frame, and at most one write per canvas pixel. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "vision/decode.h"

enum { LZW_BITS = 12, LZW_TABLE = 1 << LZW_BITS, PIL_READ_BLOCK = 65536 };

typedef struct {
    const uint8_t *p;
    size_t len, pos;
} reader;

/* Python's fp.read(n): up to n bytes (fewer at the end); *got says how many. */
static const uint8_t *read_up_to(reader *r, size_t n, size_t *got) {
    const uint8_t *at = r->p + r->pos;
    *got = n < r->len - r->pos ? n : r->len - r->pos;
    r->pos += *got;
    return at;
}

/* GifImageFile.data(): the next sub-block, NULL at a zero length byte or at the end of the file. */
static const uint8_t *sub_block(reader *r, size_t *n) {
    size_t got;
    const uint8_t *len = read_up_to(r, 1, &got);
    if (got == 0 || len[0] == 0) return NULL;
    return read_up_to(r, len[0], n);
}

/* 3·2^bits palette bytes; a short read means the file ended, so no frame will follow. */
static const uint8_t *read_palette(reader *r, unsigned flags, int *colors) {
    size_t got, want = (size_t)3 << ((flags & 7) + 1);
    const uint8_t *p = read_up_to(r, want, &got);
    *colors = got == want ? (int)(want / 3) : 0;
    return p;
}

typedef struct {
    int x0, y0, w, h; /* the frame on the canvas */
    bool interlaced;
    const uint8_t *palette; /* frame palette: local, else global (NULL: none) */
    int colors;
    int fill; /* canvas index where the frame does not reach */
    size_t data_at; /* LZW data: right after the minimum code size byte */
    int min_code_size;
    int canvas_w, canvas_h;
} gif_frame;

/* The header and the blocks up to the first image descriptor, as GifImageFile._open and _seek(0). */
static int read_first_frame(gif_frame *f, const uint8_t *data, size_t len, const char *name) {
    reader r = {data, len, 0};
    size_t got;
    const uint8_t *s = read_up_to(&r, 13, &got);
    if (got < 13) return vt_err("%s: truncated GIF header (%zu bytes)", name, got);
    f->canvas_w = s[6] | s[7] << 8, f->canvas_h = s[8] | s[9] << 8;
    const uint8_t *global = NULL;
    int global_colors = 0;
    if (s[10] & 0x80) global = read_palette(&r, s[10], &global_colors);
    f->fill = 0;
    for (;;) {
        const uint8_t *b = read_up_to(&r, 1, &got);
        if (got == 0 || b[0] == ';')
            return vt_err("%s: GIF without an image (no image descriptor before its end)", name);
        if (b[0] == '!') {
            const uint8_t *label = read_up_to(&r, 1, &got);
            size_t n;
            const uint8_t *block = sub_block(&r, &n);
            if (got == 0) return vt_err("%s: truncated GIF extension", name);
            if (label[0] == 0xF9 && block) { /* graphic control: flags, delay (2 bytes), transparent index */
                if (n < 1 || ((block[0] & 1) && n < 4) || n < 3)
                    return vt_err("%s: GIF graphic control extension of %zu bytes is too short", name, n);
                if (block[0] & 1) f->fill = block[3];
            } else if (label[0] == 0xFE) { /* comment: its blocks are read to the terminator */
                while (block) block = sub_block(&r, &n);
                continue;
            } else if (label[0] == 0xFF && block && n >= 11 && !memcmp(block, "NETSCAPE2.0", 11)) {
                sub_block(&r, &n); /* PIL reads the loop count block unchecked, even a terminator */
            }
            while (sub_block(&r, &n)) {
            }
        } else if (b[0] == ',') {
            const uint8_t *d = read_up_to(&r, 9, &got);
            if (got < 9) return vt_err("%s: truncated GIF image descriptor", name);
            f->x0 = d[0] | d[1] << 8, f->y0 = d[2] | d[3] << 8, f->w = d[4] | d[5] << 8,
            f->h = d[6] | d[7] << 8;
            f->interlaced = d[8] & 0x40;
            f->palette = global, f->colors = global_colors;
            if (d[8] & 0x80) f->palette = read_palette(&r, d[8], &f->colors);
            const uint8_t *min_code_size = read_up_to(&r, 1, &got);
            if (got == 0) return vt_err("%s: truncated GIF image data", name);
            f->min_code_size = min_code_size[0];
            f->data_at = r.pos;
            return 0;
        }
        /* any other byte between blocks is skipped, as PIL does */
    }
}

typedef struct {
    uint8_t *canvas;
    const gif_frame *f;
    int x, y, step, pass; /* pass: 1..3 interlace passes still to come after this one, 0 none */
    /* LZW */
    int state; /* 1: (re)start the table, 2: first code after a clear, 3: running */
    int clear, end, next, code_size, code_mask, last_code;
    uint8_t last_byte;
    uint32_t bit_buffer;
    int bit_count, block_left;
    int pending; /* bytes of `stack` still to write, from stack + LZW_TABLE - pending */
    uint8_t stack[LZW_TABLE], suffix[LZW_TABLE];
    uint16_t prefix[LZW_TABLE];
} lzw;

/* Moves to the next row (of the next interlace pass); false once the frame is full. */
static bool next_row(lzw *z) {
    z->x = 0;
    z->y += z->step;
    while (z->y >= z->f->h) {
        switch (z->pass) {
        case 1: z->y = 4, z->pass = 2; break; /* rows 4, 12, ... (step stays 8) */
        case 2: z->step = 4, z->y = 2, z->pass = 3; break; /* rows 2, 6, ... */
        case 3: z->step = 2, z->y = 1, z->pass = 0; break; /* rows 1, 3, ... */
        default: return false;
        }
    }
    return true;
}

enum { LZW_FULL, LZW_TRUNCATED, LZW_BROKEN };

/* Writes n indices; LZW_FULL once the frame is full (the rest of the string is dropped, as PIL does). */
static int put(lzw *z, const uint8_t *p, int n, bool *full) {
    if (z->y >= z->f->h) return LZW_BROKEN;
    while (n > 0) {
        int k = z->f->w - z->x < n ? z->f->w - z->x : n;
        memcpy(z->canvas + (size_t)(z->f->y0 + z->y) * z->f->canvas_w + z->f->x0 + z->x, p, (size_t)k);
        p += k, n -= k, z->x += k;
        if (z->x >= z->f->w && !next_row(z)) {
            *full = true;
            return LZW_FULL;
        }
    }
    return LZW_FULL;
}

/* PIL's ImagingGifDecode run over the whole file, with its 64 KiB reads made explicit. */
static int decode_lzw(lzw *z, const uint8_t *data, size_t len) {
    const gif_frame *f = z->f;
    if (f->min_code_size > LZW_BITS) return LZW_BROKEN;
    size_t pos = f->data_at, avail = f->data_at + PIL_READ_BLOCK < len ? f->data_at + PIL_READ_BLOCK : len;
    z->clear = 1 << f->min_code_size, z->end = z->clear + 1;
    z->step = f->interlaced ? 8 : 1, z->pass = f->interlaced ? 1 : 0;
    z->state = 1;
    bool full = false;
    for (;;) {
        if (z->state == 1) {
            z->next = z->clear + 2;
            z->code_size = f->min_code_size + 1, z->code_mask = (1 << z->code_size) - 1;
            z->pending = 0;
            z->state = 2;
        }
        if (z->pending > 0) {
            int n = z->pending;
            z->pending = 0;
            if (put(z, z->stack + LZW_TABLE - n, n, &full) != LZW_FULL) return LZW_BROKEN;
            if (full) return LZW_FULL;
            continue;
        }
        while (z->bit_count < z->code_size) {
            if (z->block_left > 0) {
                z->bit_buffer |= (uint32_t)data[pos++] << z->bit_count;
                z->bit_count += 8, z->block_left--;
            } else if (pos < avail && pos + 1 + data[pos] <= avail) { /* PIL starts a sub-block only whole */
                z->block_left = data[pos++];
            } else if (avail < len) {
                avail = avail + PIL_READ_BLOCK < len ? avail + PIL_READ_BLOCK : len;
            } else {
                return LZW_TRUNCATED;
            }
        }
        int c = (int)(z->bit_buffer & (uint32_t)z->code_mask);
        z->bit_buffer >>= z->code_size, z->bit_count -= z->code_size;
        if (c == z->clear) {
            if (z->state != 2) z->state = 1;
            continue;
        }
        if (c == z->end) { /* PIL's decoder returns; its caller reads on, if anything is left */
            if (avail == len) return LZW_TRUNCATED;
            avail = avail + PIL_READ_BLOCK < len ? avail + PIL_READ_BLOCK : len;
            continue;
        }
        if (z->state == 2) {
            if (c > z->clear) return LZW_BROKEN;
            z->last_byte = (uint8_t)c, z->last_code = c, z->state = 3;
        } else {
            int this_code = c, sp = LZW_TABLE - z->pending;
            if (c > z->next) return LZW_BROKEN;
            if (c == z->next) {
                z->stack[--sp] = z->last_byte;
                c = z->last_code;
            }
            while (c >= z->clear) {
                if (sp <= 0 || c >= LZW_TABLE) return LZW_BROKEN;
                z->stack[--sp] = z->suffix[c];
                c = z->prefix[c];
            }
            z->pending = LZW_TABLE - sp;
            z->last_byte = (uint8_t)c;
            if (z->next < LZW_TABLE) {
                z->suffix[z->next] = (uint8_t)c, z->prefix[z->next] = (uint16_t)z->last_code;
                if (z->next == z->code_mask && z->code_size < LZW_BITS)
                    z->code_size++, z->code_mask = (1 << z->code_size) - 1;
                z->next++;
            }
            z->last_code = this_code;
        }
        if (put(z, &z->last_byte, 1, &full) != LZW_FULL) return LZW_BROKEN;
        if (full) return LZW_FULL;
    }
}

int vt_decode_gif(vt_image *img, const uint8_t *data, size_t len, const char *name,
                  const vt_image_config *c) {
    gif_frame f;
    TRY(read_first_frame(&f, data, len, name));
    /* PIL grows the canvas to hold the frame, then refuses what is too large or empty */
    long cw = f.canvas_w > f.x0 + f.w ? f.canvas_w : f.x0 + f.w,
         ch = f.canvas_h > f.y0 + f.h ? f.canvas_h : f.y0 + f.h;
    TRY(vt_decode_check_size(name, cw, ch, c));
    if (f.w == 0 || f.h == 0) return vt_err("%s: GIF frame of %d×%d pixels", name, f.w, f.h);
    f.canvas_w = (int)cw, f.canvas_h = (int)ch;
    lzw *z = calloc(1, sizeof *z);
    uint8_t *canvas = malloc((size_t)cw * ch);
    int rc = z && canvas ? 0 : vt_err("%s: out of memory for %ld×%ld pixels", name, cw, ch);
    if (rc == 0) {
        memset(canvas, f.fill, (size_t)cw * ch);
        z->canvas = canvas, z->f = &f;
        int status = decode_lzw(z, data, len);
        if (status == LZW_TRUNCATED)
            rc = vt_err("%s: truncated GIF (the image data ends before the frame is complete)", name);
        else if (status == LZW_BROKEN)
            rc = vt_err("%s: corrupt GIF (broken LZW data)", name);
    }
    if (rc == 0) rc = vt_decode_alloc(img, f.canvas_w, f.canvas_h, name);
    bool grey = true; /* PIL's _is_palette_needed: mode L unless some entry i differs from (i, i, i) */
    for (int k = 0; k < f.colors; k++)
        grey = grey && f.palette[3 * k] == k && f.palette[3 * k + 1] == k && f.palette[3 * k + 2] == k;
    if (rc == 0)
        for (size_t i = 0; i < (size_t)cw * ch; i++) {
            int k = canvas[i];
            uint8_t *o = img->rgb + 3 * i;
            if (grey)
                o[0] = o[1] = o[2] = (uint8_t)k;
            else if (k < f.colors)
                memcpy(o, f.palette + 3 * k, 3);
            else
                o[0] = o[1] = o[2] = 0;
        }
    free(canvas);
    free(z);
    return rc;
}
