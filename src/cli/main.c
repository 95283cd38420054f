/* vlmtune — command-line entry point: finds the subcommand and prints the one
 * error message if it fails. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "util/error.h"

int vt_cli_exit_status = 0;

static const vt_command commands[] = {
    {"version", "print vlmtune's and MLX's versions", cmd_version},
    {"info", "describe a model directory: architecture, parameters, dtype, quantization", cmd_info},
    {"forward", "run the model on explicit inputs and write the logits", cmd_forward},
    {"tokenize", "text to token ids and back with a model's tokenizer", cmd_tokenize},
    {"image", "decode and preprocess an image as the model sees it", cmd_image},
    {"encode", "a dataset's rows as the exact model inputs and loss masks", cmd_encode},
    {"prepare", "check a dataset, print its statistics, cache it encoded", cmd_prepare},
    {"train", "fine-tune LoRA/DoRA adapters on a JSONL dataset", cmd_train},
    {"generate", "answer a prompt with images, streaming (KV cache, sampling)", cmd_generate},
    {"eval", "loss, perplexity and (with --generate) scored answers on a dataset", cmd_eval},
    {"compare", "two evaluations side by side, as a Markdown report", cmd_compare},
    {"fuse", "fold an adapter into a model directory that mlx_vlm.load reads", cmd_fuse},
    {"convert-adapter", "an adapter from mlx-vlm's layout to PEFT's or back", cmd_convert},
    {"smoke", "load a safetensors file and take one gradient step (foundation smoke test)", cmd_smoke},
};

static void usage(FILE *f) {
    fprintf(f, "usage: vlmtune <command> [options]\n       vlmtune help <command>\n       vlmtune --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'vlmtune <command> --help' (or 'vlmtune help <command>') describes a command's options.\n");
}

static const vt_command *find_command(const char *name) {
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(name, commands[i].name)) return &commands[i];
    return NULL;
}

static int unknown_command(const char *name) {
    fprintf(stderr, "vlmtune: unknown command '%s'\n", name);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) return cmd_version(1, argv + 1);
    if (!strcmp(argv[1], "help")) { /* "vlmtune help CMD" is "vlmtune CMD --help" */
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        const vt_command *cmd = find_command(argv[2]);
        if (!cmd) return unknown_command(argv[2]);
        char *help_argv[] = {argv[2], "--help", NULL};
        return cmd->run(2, help_argv) ? 1 : 0;
    }
    const vt_command *cmd = find_command(argv[1]);
    if (!cmd) return unknown_command(argv[1]);
    if (cmd->run(argc - 1, argv + 1) != 0) {
        fprintf(stderr, "vlmtune %s: %s\n", argv[1], vt_errmsg());
        return 1;
    }
    return vt_cli_exit_status; /* 0, or what a command asked for (train: 130/143 when interrupted) */
}
