/* select.h — which linear layers an adapter configuration names (used inside src/lora only).
 *
 * Layers are told apart by their place in the model (vt_linear.place, .index, .leaf), never by parsing
 * their names; only a key the user writes as a dotted path is matched against the end of a layer's path. */
#ifndef VT_LORA_SELECT_H
#define VT_LORA_SELECT_H

#include "lora/lora.h"

/* The layers cfg selects, in the model's order.  *out is malloc'd.  A key that matches no layer is an
 * error listing the decoder's layer names. */
int vt_lora_select(vt_model *m, const vt_lora_config *cfg, vt_linear ***out, size_t *n);
/* The layers with these full module paths, in the order given; a missing one is an error saying the
 * adapter was made for another model.  *out is malloc'd. */
int vt_lora_find(vt_model *m, char *const *names, size_t n, const char *label, vt_linear ***out, size_t *n_out);

#endif
