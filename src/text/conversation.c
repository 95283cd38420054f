/* conversation.c — the few operations on conversations themselves. */
#include "text/conversation.h"

#include <stdlib.h>

static const char *const role_names[] = {"system", "user", "assistant"};

const char *vt_role_name(vt_role role) { return role_names[role]; }

void vt_sample_clear(vt_sample *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_messages; i++) {
        for (size_t k = 0; k < s->messages[i].n_parts; k++) free(s->messages[i].parts[k].text);
        free(s->messages[i].parts);
    }
    free(s->messages);
    *s = (vt_sample){0};
}

void vt_conversation_prompt(vt_sample *s, vt_part *parts, vt_message *msgs, const char *system,
                            const char *const *images, size_t n_images, const char *prompt) {
    size_t np = 0, nm = 0;
    if (system) {
        parts[np] = (vt_part){VT_PART_TEXT, (char *)system};
        msgs[nm++] = (vt_message){VT_ROLE_SYSTEM, &parts[np++], 1};
    }
    size_t first = np;
    for (size_t i = 0; i < n_images; i++) parts[np++] = (vt_part){VT_PART_IMAGE, (char *)images[i]};
    parts[np++] = (vt_part){VT_PART_TEXT, (char *)prompt};
    msgs[nm++] = (vt_message){VT_ROLE_USER, &parts[first], np - first};
    *s = (vt_sample){.messages = msgs, .n_messages = nm};
}
