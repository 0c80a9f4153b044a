# Thin wrapper over Meson + Ninja. `make demo` and `make test` install what is missing first.
BUILD    ?= build
ASAN     ?= build-asan
PYTHON   ?= /usr/bin/python3
PYTEST   ?= $(PYTHON) -m pytest
MESON    ?= meson

.PHONY: all build test unit integration demo asan bench fuzz clean bootstrap

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD)/build.ninja:
	@scripts/bootstrap --quiet build
	$(MESON) setup $(BUILD)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

unit: build
	@scripts/bootstrap --quiet test
	$(MESON) test -C $(BUILD) --print-errorlogs

integration: build
	@scripts/bootstrap --quiet test
	FAULTLINE_BUILD=$(abspath $(BUILD)) $(PYTEST) -q -p no:cacheprovider tests/integration

test: unit integration

demo: build
	@examples/demo/run $(BUILD)

# AddressSanitizer + UBSan build; runs the unit tests and fuzz replays under it.
asan:
	@scripts/bootstrap --quiet test
	test -f $(ASAN)/build.ninja || $(MESON) setup $(ASAN) -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(ASAN)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  $(MESON) test -C $(ASAN) --print-errorlogs --suite unit --suite fuzz

# Coverage-guided fuzzing with libFuzzer (needs clang); FUZZ_SECONDS per target. New inputs go
# to a scratch copy of the corpus; copy the interesting ones into fuzz/corpus/ by hand.
FUZZ      ?= build-fuzz
FUZZ_SECONDS ?= 60
fuzz:
	@command -v clang >/dev/null || { echo "fuzz: needs clang (apt-get install clang)"; exit 3; }
	test -f $(FUZZ)/build.ninja || CC=clang $(MESON) setup $(FUZZ) -Dfuzzing_engine=libfuzzer \
	  -Db_sanitize=address,undefined -Db_lundef=false -Dtests=false
	ninja -C $(FUZZ)
	for t in rule units api crashlog; do \
	  rm -rf $(FUZZ)/corpus-$$t && mkdir -p $(FUZZ)/corpus-$$t && \
	  $(FUZZ)/fuzz/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) $(FUZZ)/corpus-$$t fuzz/corpus/$$t || exit 1; \
	done

bench: build
	@scripts/bootstrap --quiet bench
	bench/preload $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
