/* Padded batches: padding, attention mask, the shifted supervised positions, images in order. */
#include "test.h"
#include "data/batch.h"

int main(void) {
    TEST_BEGIN();
    int32_t ids_a[] = {10, 11, 12, 13, 14}, ids_b[] = {20, 21, 22};
    uint8_t mask_a[] = {0, 0, 0, 1, 1}, mask_b[] = {0, 1, 1};
    float pix[2 * 4] = {1, 2, 3, 4, 5, 6, 7, 8};
    int32_t grid[3] = {1, 2, 1};
    vt_encoded a = {ids_a, mask_a, 5, NULL, 0, 0, NULL, 0};
    vt_encoded b = {ids_b, mask_b, 3, pix, 2, 4, grid, 1};
    const vt_encoded *samples[] = {&a, &b};
    vt_batch batch;
    CHECK_OK(vt_batch_make(&batch, samples, 2, -1, 4));
    CHECK(batch.B == 2 && batch.T == 8); /* longest 5, rounded up to a multiple of 4 */
    CHECK(batch.input_ids[5] == -1 && batch.input_ids[8] == 20 && batch.input_ids[11] == -1);
    CHECK(batch.attention_mask[4] == 1 && batch.attention_mask[5] == 0 && batch.attention_mask[10] == 1 &&
          batch.attention_mask[11] == 0);
    /* supervised: a's tokens 3,4 (predicted at 2,3), b's tokens 1,2 (predicted at 8+0, 8+1) */
    CHECK(batch.n_targets == 4);
    int32_t want_pos[] = {2, 3, 8, 9}, want_tgt[] = {13, 14, 21, 22};
    for (int i = 0; i < 4; i++) CHECK(batch.loss_positions[i] == want_pos[i] && batch.targets[i] == want_tgt[i]);
    CHECK(batch.n_patches == 2 && batch.patch_dim == 4 && batch.pixel_values[7] == 8.0f);
    CHECK(batch.n_images == 1 && batch.grid_thw[1] == 2);
    CHECK(batch.n_real_tokens == 8);
    vt_batch_clear(&batch);

    /* packed: a then b in row 0, b alone in row 1; targets never cross from a sample to the next */
    const vt_encoded *three[] = {&a, &b, &b};
    int row_of[] = {0, 0, 1};
    CHECK_OK(vt_batch_make_packed(&batch, three, row_of, 3, -1, 1));
    CHECK(batch.B == 2 && batch.T == 8);
    int32_t want_ids[] = {10, 11, 12, 13, 14, 20, 21, 22, 20, 21, 22, -1, -1, -1, -1, -1};
    int32_t want_seg[] = {1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 0, 0, 0, 0, 0};
    for (int i = 0; i < 16; i++) CHECK(batch.input_ids[i] == want_ids[i] && batch.segments[i] == want_seg[i]);
    CHECK(batch.n_targets == 6);
    int32_t packed_pos[] = {2, 3, 5, 6, 8, 9}, packed_tgt[] = {13, 14, 21, 22, 21, 22};
    for (int i = 0; i < 6; i++) CHECK(batch.loss_positions[i] == packed_pos[i] && batch.targets[i] == packed_tgt[i]);
    CHECK(batch.n_images == 2 && batch.n_patches == 4 && batch.n_real_tokens == 11);
    vt_batch_clear(&batch);
    /* packed with pad_multiple 4: each sample takes a whole number of 4-token slices (a: 8, b: 4) */
    CHECK_OK(vt_batch_make_packed(&batch, three, row_of, 3, -1, 4));
    CHECK(batch.B == 2 && batch.T == 12);
    int32_t slice_ids[] = {10, 11, 12, 13, 14, -1, -1, -1, 20, 21, 22, -1, 20, 21, 22, -1};
    int32_t slice_seg[] = {1, 1, 1, 1, 1, 0, 0, 0, 2, 2, 2, 0, 1, 1, 1, 0};
    for (int i = 0; i < 12; i++) CHECK(batch.input_ids[i] == slice_ids[i] && batch.segments[i] == slice_seg[i]);
    for (int i = 0; i < 4; i++) CHECK(batch.input_ids[12 + i] == slice_ids[12 + i] && batch.segments[12 + i] == slice_seg[12 + i]);
    int32_t slice_pos[] = {2, 3, 8, 9, 12, 13}; /* b predicts its tokens 1, 2 from 0, 1 of its slice */
    for (int i = 0; i < 6; i++) CHECK(batch.loss_positions[i] == slice_pos[i] && batch.targets[i] == packed_tgt[i]);
    CHECK(batch.n_real_tokens == 11);
    vt_batch_clear(&batch);
    int bad_rows[] = {1, 0, 0};
    CHECK_FAILS(vt_batch_make_packed(&batch, three, bad_rows, 3, -1, 1), "row numbers must rise");

    CHECK_FAILS(vt_batch_make(&batch, samples, 0, 0, 1), "at least one sample");
    vt_encoded empty = {0};
    const vt_encoded *bad[] = {&a, &empty};
    CHECK_FAILS(vt_batch_make(&batch, bad, 2, 0, 1), "sample 1 of the batch is empty");
    return TEST_END();
}
