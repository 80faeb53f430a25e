# wanc — build the library, the CLI and the tests.
#
#   make            build/libwanc.a and build/wanc
#   make test       unit tests + the fixture harness (FIXTURES=dir to choose the tree)
#   make check      test + asan, one summary line (the CI and README test command)
#   make asan       the same tests built with AddressSanitizer + UBSan (in build-asan/)
#   make bench      benchmarks against the same-run sgemm rate
#   make fuzz       every fuzz target (tests/fuzz/fuzz_*.c) for FUZZ_SECONDS (60) each,
#                   libFuzzer + ASan + UBSan (clang-14; objects in build-fuzz/)
#   make CUDA=1     also build the CUDA backend (needs nvcc; objects in build-cuda/)
#   make CUDA=1 test-cuda   CPU-vs-CUDA op parity tests (SKIP without a device)
#   sh bench/gpu.sh         on a GPU machine: build, parity, GEMM/attention/DiT timings (< 8 min)

CC       ?= cc
CUDA     ?= 0
BUILD    ?= $(if $(filter 1,$(CUDA)),build-cuda,build)
FIXTURES ?= ../shared/fixtures

OPT      ?= -O2 -march=x86-64-v3 -g
CFLAGS   := $(OPT) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-format-truncation -Iinclude -Isrc -MMD -MP \
            $(shell pkg-config --cflags libcjson openblas 2>/dev/null)
# warnings to drop after -Wextra (make fuzz: clang's -Wmissing-field-initializers
# fires on designated initializers that gcc accepts)
CFLAGS   += $(WARN_EXTRA)
LDLIBS   += $(shell pkg-config --libs openblas libcjson 2>/dev/null || echo -lopenblas -lcjson) \
            $(shell pkg-config --libs libavformat libavcodec libswscale libavutil 2>/dev/null) -lpng -lz -lm -lpthread

LIB_SRC  := $(sort $(wildcard src/*/*.c src/*/*/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/*.c tests/common/*.c))
FIX_SRC  := $(sort $(wildcard tests/fixtures/*.c))
BENCH_SRC:= $(sort $(wildcard bench/*.c))
CLI_SRC  := $(sort $(wildcard tools/*.c))
# One parser per fuzz target; a new tests/fuzz/fuzz_NAME.c is picked up by
# `make fuzz` and by the replay of its seeds and crashers in `make test`.
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_DEPS = $(BUILD)/tests/fuzz/support.o $(BUILD)/tools/cli_args.o $(BUILD)/tools/cli_conds.o $(BUILD)/libwanc.a

ifeq ($(CUDA),1)
# nvcc from PATH, else the default install. sm_90 code (H100/H200) plus
# compute_80 PTX that the driver JIT-compiles for other archs (sm_80+).
NVCC      ?= $(or $(shell command -v nvcc 2>/dev/null),/usr/local/cuda/bin/nvcc)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_ARCH ?= -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_80,code=compute_80
CU_SRC    := $(sort $(wildcard src/cuda/*.cu))
CFLAGS    += -DWANC_CUDA=1
NVFLAGS   ?= -O2 -g -std=c++17 $(CUDA_ARCH) -Iinclude -Isrc -DWANC_CUDA=1 -MMD -MP \
             -Xcompiler -Wall,-Wextra,-Wno-unused-parameter -Werror all-warnings
LDLIBS    += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcublasLt -lcudart -lstdc++ -ldl -lrt
endif
CUDA_TEST_SRC := $(sort $(wildcard tests/cuda/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.cu.o)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)
FIX_OBJ  := $(FIX_SRC:%.c=$(BUILD)/%.o)

.PHONY: all test check test-unit test-fixtures test-cuda asan bench clean fuzz fuzz-build
all: $(BUILD)/libwanc.a $(BUILD)/wanc

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c $< -o $@

$(BUILD)/libwanc.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/wanc: $(CLI_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libwanc.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/test_unit: $(UNIT_OBJ) $(BUILD)/libwanc.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/test_fixtures: $(FIX_OBJ) $(BUILD)/libwanc.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/bench_%: $(BUILD)/bench/%.o $(BUILD)/libwanc.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# objects reached only through the replay_/fuzz_ patterns are kept
.PRECIOUS: $(BUILD)/%.o

# a fuzz target without libFuzzer: runs the seeds and kept crashers (make test)
$(BUILD)/replay_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay_main.o $(FUZZ_DEPS)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_DEPS)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $^ -o $@ $(LDLIBS)

# CPU-vs-CUDA op parity (tests/cuda/, CUDA=1 builds only): every test
# prints a SKIP line when no device is present. The fixture harness does not
# take a backend choice yet (every runner uses the CPU backend), so
# test-cuda runs the op parity tests only.
ifeq ($(CUDA),1)
$(BUILD)/test_cuda: $(CUDA_TEST_SRC:%.c=$(BUILD)/%.o) $(BUILD)/tests/common/test_registry.o $(BUILD)/libwanc.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

test-cuda: $(BUILD)/test_cuda
	$(BUILD)/test_cuda
else
test-cuda:
	@echo "test-cuda: this build has no CUDA backend (make CUDA=1 test-cuda)"; exit 1
endif

# The test command: unit tests, then every fixture case, one summary line.
test: $(BUILD)/test_unit $(BUILD)/test_fixtures $(BUILD)/wanc $(FUZZ_NAMES:%=$(BUILD)/replay_%)
	@sh tests/run.sh $(BUILD) $(FIXTURES)

check: all
	@sh tests/check.sh

test-unit: $(BUILD)/test_unit
	$(BUILD)/test_unit

test-fixtures: $(BUILD)/test_fixtures
	$(BUILD)/test_fixtures $(FIXTURES)

asan:
	WANC_TEST_PATHS=default $(MAKE) BUILD=build-asan OPT="-O1 -g -march=x86-64-v3 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test

# libFuzzer needs clang; the library is rebuilt with coverage + sanitizers.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
# Frames are capped at 1 Mpx in the fuzz build: a mutated header may claim any size up to the
# limit and FFmpeg zeroes the whole frame buffer first, so at the real 64 Mpx the media target spent
# ~90 % of its time in that memset (35-200 exec/s); the limit checks are the same code at either value.
FUZZ_OPT     := -O1 -g -march=x86-64-v3 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
                -Wno-unknown-warning-option -DWANC_LIMIT_FRAME_PIXELS=1048576 \
                -fno-sanitize-recover=all
fuzz:
	$(MAKE) BUILD=build-fuzz CC=$(FUZZ_CC) OPT="$(FUZZ_OPT)" WARN_EXTRA=-Wno-missing-field-initializers fuzz-build
	@sh tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-build: $(FUZZ_NAMES:%=$(BUILD)/fuzz_%)

bench: $(BUILD)/wanc $(BENCH_SRC:bench/%.c=$(BUILD)/bench_%)
	@sh bench/run.sh $(BUILD)

clean:
	rm -rf build build-asan build-cuda build-fuzz

-include $(CLI_SRC:%.c=$(BUILD)/%.d) $(wildcard $(BUILD)/tests/fuzz/*.d) $(LIB_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(FIX_OBJ:.o=.d) $(CUDA_TEST_SRC:%.c=$(BUILD)/%.d)
