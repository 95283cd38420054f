/* config_peers.h — inside the configuration reader (config.c), shared with the
 * table of the other tools' keys (config_peers.c).  Not a public interface.
 *
 * A source of settings (one YAML file, or the flags) is read into a "layer":
 * a list of assignments to settings of the table, each remembering the key and
 * line that made it.  Only when the whole source is read and its keys agree is
 * the layer applied to the configuration. */
#ifndef VT_TRAIN_CONFIG_PEERS_H
#define VT_TRAIN_CONFIG_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "train/config.h"

/* One key of a YAML file, flattened: "lora_parameters.rank", its value as text
 * (a list's items joined with commas) and its line. */
typedef struct {
    char key[160];
    char *text;      /* owned; NULL for a mapping read as a whole */
    bool list;       /* the value was a sequence */
    bool null;       /* the value was null (~, null, nothing): the peers read it as "not given" */
    size_t line;
} vt_cfg_entry;

typedef struct {
    const void *setting;  /* row of the settings table */
    char *value;          /* canonical text (owned) */
    char key[160];        /* the key or flag as written */
    size_t line;          /* 0: a flag */
    bool implied;         /* a consequence of another key (optimizer: adam → weight_decay 0) */
} vt_cfg_op;

typedef struct {
    const char *path;             /* the file; NULL for the flags */
    const vt_train_config *base;  /* the configuration before this layer (borrowed) */
    vt_cfg_op *ops;
    size_t n, cap;
} vt_cfg_layer;

/* Assigns `text` to the setting whose YAML key is `target`, on behalf of entry `e`.  A text the
 * setting cannot take is an error naming FILE:LINE and the key as written. */
int vt_cfg_set(vt_cfg_layer *L, const char *target, const char *text, const vt_cfg_entry *e, bool implied);
/* The value this layer gives `target` so far, or the base configuration's (canonical text). */
const char *vt_cfg_value(const vt_cfg_layer *L, const char *target, char *buf, size_t cap);
/* Whether this layer assigns `target` (through any key). */
bool vt_cfg_has(const vt_cfg_layer *L, const char *target);
/* "FILE:LINE: warning: KEY: ..." to the warning stream. */
void vt_cfg_warn(const vt_cfg_layer *L, const vt_cfg_entry *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "FILE:LINE: KEY: ..." as the error; returns -1. */
int vt_cfg_fail(const vt_cfg_layer *L, const vt_cfg_entry *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A number in its shortest form that reads back exactly ("1e-05", "0.1", "16"). */
void vt_cfg_format_number(double v, char *buf, size_t cap);

/* config_peers.c.  A key the table knows: translated into assignments (or a warning, or an
 * error); *known is false when the key is not one of the peers'. */
int vt_cfg_peer_entry(vt_cfg_layer *L, const vt_cfg_entry *e, bool *known);
/* Keys that depend on others of the same file (lora_parameters.scale on the rank,
 * lr_schedule.arguments on the schedule's name, optimizer_config.* on the optimizer):
 * read after every other key of the file. */
bool vt_cfg_peer_deferred(const char *key);
/* A mapping the table reads as a whole (hf_dataset, dataset_config...). */
bool vt_cfg_peer_whole(const char *key);
/* Checks that look at the whole file (lora_rank without lora_alpha). */
void vt_cfg_peer_finish(const vt_cfg_layer *L, const vt_cfg_entry *entries, size_t n);
void vt_cfg_peer_markdown(FILE *f);

#endif
