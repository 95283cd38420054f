/* Learning-rate schedules against their closed forms. */
#include <math.h>

#include "test.h"
#include "train/schedule.h"

int main(void) {
    TEST_BEGIN();
    vt_schedule s = {VT_SCHED_COSINE, 1e-3, 1e-5, 10, 0.0, 110};
    CHECK_NEAR(vt_schedule_lr(&s, 0), 0.0, 1e-15);
    CHECK_NEAR(vt_schedule_lr(&s, 5), 0.5e-3, 1e-15);   /* halfway through warm-up */
    CHECK_NEAR(vt_schedule_lr(&s, 10), 1e-3, 1e-15);    /* peak at the end of warm-up */
    CHECK_NEAR(vt_schedule_lr(&s, 60), 1e-5 + (1e-3 - 1e-5) * 0.5, 1e-15); /* cos(pi/2) = 0 */
    CHECK_NEAR(vt_schedule_lr(&s, 110), 1e-5, 1e-15);
    CHECK_NEAR(vt_schedule_lr(&s, 500), 1e-5, 1e-15);   /* clamps after the end */
    CHECK_NEAR(vt_schedule_lr(&s, 35), 1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + cos(M_PI * 0.25)), 1e-15);

    s = (vt_schedule){VT_SCHED_LINEAR, 2e-4, 0.0, 0, 0.0, 100};
    CHECK_NEAR(vt_schedule_lr(&s, 0), 2e-4, 1e-15);
    CHECK_NEAR(vt_schedule_lr(&s, 25), 1.5e-4, 1e-15);
    CHECK_NEAR(vt_schedule_lr(&s, 100), 0.0, 1e-15);

    s = (vt_schedule){VT_SCHED_CONSTANT, 3e-4, 0.0, 4, 1e-5, 100};
    CHECK_NEAR(vt_schedule_lr(&s, 2), 1e-5 + (3e-4 - 1e-5) * 0.5, 1e-15);
    CHECK_NEAR(vt_schedule_lr(&s, 4), 3e-4, 1e-15);
    CHECK_NEAR(vt_schedule_lr(&s, 99), 3e-4, 1e-15);

    vt_sched_kind k;
    CHECK_OK(vt_schedule_kind_parse("cosine_decay", &k));
    CHECK(k == VT_SCHED_COSINE);
    CHECK_FAILS(vt_schedule_kind_parse("exponential", &k), "unknown learning-rate schedule 'exponential'");
    return TEST_END();
}
