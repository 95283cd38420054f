/* MRoPE positions against the worked example in the Qwen3-VL facts (shared/spec/qwen3-vl.md §5):
 * "<|im_start|>user\n<|vision_start|>" takes 0..3; a 448×448 image (grid 1×28×28, 14×14 tokens)
 * gets t = 4 and h, w = 4..17; "<|vision_end|>" lands at 18. */
#include <stdlib.h>

#include "model/qwen3vl.h"
#include "test.h"

enum { PAD = 151655 };

int main(void) {
    TEST_BEGIN();
    vt_model_config c = {.merge = 2, .image_token_id = PAD};
    int T = 4 + 196 + 2;
    int32_t *ids = malloc((size_t)T * sizeof *ids), *pos = malloc(3 * (size_t)T * sizeof *pos), delta;
    for (int i = 0; i < T; i++) ids[i] = i >= 4 && i < 200 ? PAD : 100 + i;
    int32_t grid[3] = {1, 28, 28};
    CHECK_OK(vt_rope_positions(&c, ids, NULL, 1, T, grid, 1, pos, &delta));
    for (int i = 0; i < 4; i++) CHECK(pos[i] == i && pos[T + i] == i && pos[2 * T + i] == i);
    CHECK(pos[4] == 4 && pos[T + 4] == 4 && pos[2 * T + 4] == 4);       /* first image token: (4, 4, 4) */
    CHECK(pos[4 + 15] == 4 && pos[T + 4 + 15] == 5 && pos[2 * T + 4 + 15] == 5); /* row 1, column 1 */
    CHECK(pos[199] == 4 && pos[T + 199] == 17 && pos[2 * T + 199] == 17);  /* last: (4, 17, 17) */
    CHECK(pos[200] == 18 && pos[T + 200] == 18 && pos[2 * T + 200] == 18); /* vision_end at 18 */
    CHECK(pos[201] == 19);
    CHECK(delta == 20 - T); /* next position 20, sequence length T */

    /* left padding is skipped: the same row shifted right by 3 gets the same positions */
    int T2 = T + 3;
    int32_t *ids2 = malloc((size_t)T2 * sizeof *ids2), *mask = malloc((size_t)T2 * sizeof *mask),
            *pos2 = malloc(3 * (size_t)T2 * sizeof *pos2);
    for (int i = 0; i < T2; i++) ids2[i] = i < 3 ? 0 : ids[i - 3], mask[i] = i >= 3;
    CHECK_OK(vt_rope_positions(&c, ids2, mask, 1, T2, grid, 1, pos2, &delta));
    for (int a = 0; a < 3; a++)
        for (int i = 0; i < T; i++) CHECK(pos2[a * T2 + i + 3] == pos[a * T + i]);

    /* mismatches are errors */
    ids[10] = 7; /* breaks the run of pads: 6 then 189 */
    CHECK_FAILS(vt_rope_positions(&c, ids, NULL, 1, T, grid, 1, pos, &delta),
                "row 0: image 0 has 6 <|image_pad|> tokens but its grid (1, 28, 28) needs 196");
    ids[10] = PAD;
    CHECK_FAILS(vt_rope_positions(&c, ids, NULL, 1, T, grid, 0, pos, &delta), "more images in input_ids than the 0");
    int32_t two[6] = {1, 28, 28, 1, 4, 4};
    CHECK_FAILS(vt_rope_positions(&c, ids, NULL, 1, T, two, 2, pos, &delta), "lists 2 images but input_ids hold 1");
    free(ids), free(pos), free(ids2), free(mask), free(pos2);
    return TEST_END();
}
