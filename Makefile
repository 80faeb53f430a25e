# wanc — build the library, the CLI and the tests.
#
#   make            build/libwanc.a and build/wanc
#   make test       unit tests + the fixture harness (FIXTURES=dir to choose the tree)
#   make check      test + asan, one summary line (the CI and README test command)
#   make asan       the same tests built with AddressSanitizer + UBSan (in build-asan/)
#   make bench      benchmarks against the same-run sgemm rate
#   make CUDA=1     also build the CUDA backend (needs nvcc)

CC       ?= cc
BUILD    ?= build
FIXTURES ?= ../shared/fixtures
CUDA     ?= 0

OPT      ?= -O2 -march=x86-64-v3 -g
CFLAGS   := $(OPT) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-format-truncation -Iinclude -Isrc -MMD -MP \
            $(shell pkg-config --cflags libcjson openblas 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs openblas libcjson 2>/dev/null || echo -lopenblas -lcjson) \
            $(shell pkg-config --libs libavformat libavcodec libswscale libavutil 2>/dev/null) -lpng -lz -lm -lpthread

LIB_SRC  := $(sort $(wildcard src/*/*.c src/*/*/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/*.c))
FIX_SRC  := $(sort $(wildcard tests/fixtures/*.c))
BENCH_SRC:= $(sort $(wildcard bench/*.c))

ifeq ($(CUDA),1)
NVCC      ?= nvcc
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(shell command -v $(NVCC)))
CU_SRC    := $(sort $(wildcard src/cuda/*.cu))
CFLAGS    += -DWANC_CUDA=1
NVFLAGS   ?= -O2 -std=c++17 -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_80,code=compute_80 \
             -Iinclude -Isrc -DWANC_CUDA=1 -Xcompiler -Wall
LDLIBS    += -L$(CUDA_HOME)/lib64 -lcudart -lcublas -lcublasLt -lstdc++
endif

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.cu.o)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)
FIX_OBJ  := $(FIX_SRC:%.c=$(BUILD)/%.o)

.PHONY: all test check test-unit test-fixtures asan bench clean
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

$(BUILD)/wanc: $(BUILD)/tools/wanc.o $(BUILD)/libwanc.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/test_unit: $(UNIT_OBJ) $(BUILD)/libwanc.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/test_fixtures: $(FIX_OBJ) $(BUILD)/libwanc.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/bench_%: $(BUILD)/bench/%.o $(BUILD)/libwanc.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# The test command: unit tests, then every fixture case, one summary line.
test: $(BUILD)/test_unit $(BUILD)/test_fixtures $(BUILD)/wanc
	@sh tests/run.sh $(BUILD) $(FIXTURES)

check: all
	@sh tests/check.sh

test-unit: $(BUILD)/test_unit
	$(BUILD)/test_unit

test-fixtures: $(BUILD)/test_fixtures
	$(BUILD)/test_fixtures $(FIXTURES)

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -march=x86-64-v3 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test

bench: $(BUILD)/wanc $(BENCH_SRC:bench/%.c=$(BUILD)/bench_%)
	@sh bench/run.sh $(BUILD)

clean:
	rm -rf build build-asan

-include $(LIB_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(FIX_OBJ:.o=.d)
