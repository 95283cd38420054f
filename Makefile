# vlmtune — two commands on a fresh machine:
#   make demo   install what is missing, build, run the main job on the embedded default
#   make test   the same set-up, then every test (ctest, then the leak-checked build)
BUILD     ?= build
ASAN      ?= build-asan
MLX_ROOT   = $(shell .venv/bin/python -c 'import mlx;print(list(mlx.__path__)[0])' 2>/dev/null)
JOBS      ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu)
CMAKE_ARGS = -DMLX_ROOT=$(MLX_ROOT) -DVT_PYTHON=$(CURDIR)/.venv/bin/python

FUZZ_SECONDS ?= 300
PREFIX       ?= /usr/local

.PHONY: all setup setup-test build test test-asan fuzz demo clean format install wheel

all: build

setup:
	@tools/setup.sh

setup-test:
	@tools/setup.sh --test

build: setup
	@$(MAKE) --no-print-directory compile

compile:
	@cmake -S . -B $(BUILD) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

test: setup-test
	@$(MAKE) --no-print-directory compile
	@$(MAKE) --no-print-directory test-asan
	@tools/fuzz.sh 10
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# libvlmtune (shared and static), include/vlmtune.h, vlmtune.pc, the CMake package and the vlmtune command
# under PREFIX (cmake/install.cmake; README: Building from source).
install: build
	@cmake -S . -B $(BUILD) $(CMAKE_ARGS) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	@cmake --install $(BUILD)

# dist/vlmtune-*.whl, repaired for machines without the -dev packages (tools/wheel.sh).
wheel: setup
	@JOBS=$(JOBS) tools/wheel.sh dist

# The C tests again under AddressSanitizer + LeakSanitizer: any leaked malloc
# fails the run (MLX needs no suppressions); leaked MLX handles are counted by test.h.
# Then the CLI's workflows (train, resume, eval, generate, fuse, ...) under the same sanitizers.
test-asan:
	@cmake -S . -B $(ASAN) $(CMAKE_ARGS) -DVT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(ASAN) -j$(JOBS)
	@cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1 \
	  ctest --output-on-failure -j$(JOBS) -E '^py_'
	@tests/asan_cli.sh $(ASAN)/vlmtune

# libFuzzer + ASan + UBSan on every parser of untrusted input (tests/fuzz), FUZZ_SECONDS each (a longer
# campaign than make test's 10 s), then Valgrind on the seeds and the corpus the campaign grew.
fuzz: setup-test
	@tools/fuzz.sh $(FUZZ_SECONDS) --corpus

# The demo's generators (tiny model, synthetic photos) are Python tools that need the test set-up.
demo: setup-test
	@$(MAKE) --no-print-directory compile
	@tools/demo.sh

clean:
	rm -rf $(BUILD) $(ASAN) build-wheel
