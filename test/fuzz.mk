# SPDX-License-Identifier: MIT
# The model-based concurrency fuzzer, test/fuzz.c (included by the Makefile).
# `make check` runs it as one more test, for about 45 s (USTATIC_TEST_SCALE
# divides that); `make fuzz SEED=... SECONDS=...` runs it longer, with a
# seed to replay (a random one, printed, without SEED). OPS=calls,shared,...
# limits it to some groups of operations (see test/fuzz.c).

# It dlopens plugins that use the executable's calls and keys: one copy of
# the library per process, so it links the shared library.
TEST_LIB_fuzz := -L$(B) -lustatic -Wl,-rpath,'$$ORIGIN/..'

# The sites every object of the fuzzer includes.
$(B)/test/fuzz $(B)/obj/test/fuzz.o: test/lib/fuzz_sites.h
$(B)/test/libfuzz_plugin_a.so $(B)/test/libfuzz_plugin_b.so: test/lib/fuzz_sites.h
$(B)/test/libfuzz_plugin_b.so: test/lib/fuzz_plugin_a.c

fuzz: $(B)/test/fuzz
	USTATIC_FUZZ_SECONDS=$(or $(SECONDS),600) $(if $(SEED),USTATIC_FUZZ_SEED=$(SEED)) \
		$(if $(OPS),USTATIC_FUZZ_OPS=$(OPS)) $(B)/test/fuzz

.PHONY: fuzz

# The dynamic-debug query parser's fuzzer, test/dyndbg_fuzz.c: ~3 s in
# `make check`; longer and replayable here.
fuzz-dyndbg: $(B)/test/dyndbg_fuzz
	USTATIC_FUZZ_SECONDS=$(or $(SECONDS),600) $(if $(SEED),USTATIC_FUZZ_SEED=$(SEED)) \
		$(B)/test/dyndbg_fuzz

.PHONY: fuzz-dyndbg
