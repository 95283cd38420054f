/* config.h — a Qwen3-VL config.json as a C struct.
 *
 * Accepts both the transformers-4 form (text_config.rope_scaling, rope_theta)
 * and the transformers-5 form (text_config.rope_parameters), and the optional
 * MLX "quantization" block.  Every missing or mistyped field is an error that
 * names config.json and the field. */
#ifndef VT_CONFIG_H
#define VT_CONFIG_H

#include <stdbool.h>

enum { VT_MAX_DEEPSTACK = 8 };

typedef struct {
    /* text decoder */
    int hidden, layers, intermediate, heads, kv_heads, head_dim, vocab;
    double rms_eps, rope_theta;
    int mrope_section[3];      /* frequencies taken from the t, h, w positions */
    bool mrope_interleaved;    /* Qwen3-VL: true (h on j%3==1, w on j%3==2) */
    bool tie_embeddings;       /* top-level tie_word_embeddings (transformers 5 reads this one) */
    /* vision tower */
    int v_depth, v_hidden, v_intermediate, v_heads, v_out;
    int patch, temporal_patch, merge, in_channels, num_pos_embed;
    int deepstack[VT_MAX_DEEPSTACK], n_deepstack;
    bool v_gelu_tanh;          /* hidden_act gelu_pytorch_tanh (else exact gelu) */
    double v_rope_theta;
    /* special tokens */
    int image_token_id, video_token_id, vision_start_id, vision_end_id;
    /* MLX affine quantization, when the checkpoint is quantized (0 otherwise) */
    int q_group_size, q_bits;
    char dtype[16];            /* torch_dtype / dtype as written ("" if absent) */
} vt_model_config;

/* Reads DIR/config.json. */
int vt_model_config_load(vt_model_config *c, const char *dir);

#endif
