/* example.h — one conversation encoded: exactly what the model and the loss receive.
 *
 * Token ids with every image's <|image_pad|> run expanded, a loss mask over those ids, and the images
 * preprocessed into patches.  Which positions are supervised is decided here, once: the logits at token t
 * predict token t+1, and they are supervised when the loss mask of token t+1 is set. */
#ifndef VT_EXAMPLE_H
#define VT_EXAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text/conversation.h"
#include "text/tokenizer.h"
#include "vision/image.h"

typedef struct {
    int32_t *ids;          /* [n_tokens], owned */
    uint8_t *loss_mask;    /* [n_tokens], 1 = supervised target, owned */
    size_t n_tokens;
    float *pixel_values;   /* [n_patches, patch_dim], owned (NULL without images) */
    size_t n_patches;
    size_t patch_dim;
    int32_t *grid_thw;     /* [n_images, 3], owned */
    size_t n_images;
} vt_encoded;

/* One conversation: its images decoded and preprocessed, its chat rendered with a loss mask (and the
 * assistant generation prompt at the end when asked). */
int vt_encode_sample(const vt_sample *s, const vt_tokenizer *tok, const vt_image_config *ic, bool generation_prompt,
                     vt_encoded *out);
void vt_encoded_clear(vt_encoded *e);

/* The supervised targets of `e`, each as the flat position `offset + t` of the logits that predict it and
 * the token id ids[t + 1].  positions and targets (either may be NULL) need room for the count, which is
 * returned. */
size_t vt_example_targets(const vt_encoded *e, size_t offset, int32_t *positions, int32_t *targets);

#endif
