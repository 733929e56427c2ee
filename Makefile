# SPDX-License-Identifier: MIT
# ustatic: static calls and static keys for multithreaded Linux programs.
# `make` builds build/libustatic.{so,a}; `make check` runs every test;
# `make run` runs the showcase; `make bench` runs the benchmarks.

# make's own default is cc; ours is gcc (CC=clang etc. still win).
ifeq ($(origin CC),default)
CC       := gcc
endif
PREFIX   ?= /usr/local
LIBDIR   ?= $(PREFIX)/lib
INCDIR   ?= $(PREFIX)/include
MANDIR   ?= $(PREFIX)/share/man
BINDIR   ?= $(PREFIX)/bin
B        ?= build
VERSION  := 0.1.0

# Warnings become errors only where we pick the compiler: `make check` and
# CI pass WERROR=1. A packager's newer compiler may warn about new things
# and must still build.
WARN     := -Wall -Wextra
ifeq ($(WERROR),1)
WARN     += -Werror
endif
CFLAGS   ?= -O2 -g
BASE     := -std=gnu11 -D_GNU_SOURCE $(WARN) -Iinclude -Isrc
LIBFLAGS  = $(BASE) -fPIC -fvisibility=hidden
# Each compile also lists the headers it read (-MMD), with an empty rule
# for each (-MP) so that a header removed later does not stop the build.
DEPFLAGS := -MMD -MP
LDLIBS   := -lpthread -ldl
# Every symbol of the shared library must resolve when it is linked. Not
# with sanitizers: clang leaves their run-time to the executable.
ifeq ($(findstring -fsanitize,$(CFLAGS)),)
SOFLAGS  := -Wl,-z,defs
endif

# The code patcher for this architecture; GENERIC=1 (or an architecture
# without one) builds the portable fallback that never writes code.
ARCH     ?= $(shell $(CC) -dumpmachine | cut -d- -f1)
ifeq ($(GENERIC),1)
BASE     += -DUSTATIC_GENERIC
else ifeq ($(ARCH),x86_64)
ARCH_SRC := $(wildcard src/arch/x86_64*.c)
else ifeq ($(ARCH),aarch64)
ARCH_SRC := src/arch/aarch64.c
endif

# Debian's musl-gcc (musl-tools) sees musl's own headers only. Those of
# the kernel (linux/, asm/, asm-generic/) and valgrind's client requests
# do not depend on the C library: $(B)/sysinclude links them from the
# system's, as Alpine's linux-headers and valgrind-dev put them beside
# musl's. Every compile waits for it (order-only).
ifneq ($(findstring musl-gcc,$(notdir $(firstword $(CC)))),)
SYSINC   := $(B)/sysinclude
BASE     += -isystem $(SYSINC)
SYSINC_FROM := /usr/include/linux /usr/include/asm-generic \
	/usr/include/$(shell $(CC) -print-multiarch)/asm \
	$(wildcard /usr/include/valgrind)
endif

# The signal-function wrappers (src/interpose.c) go into the shared
# library only: in the archive they would clash with libc's in -static links.
SO_SRC   := src/interpose.c
LIB_SRC  := $(filter-out $(SO_SRC),$(wildcard src/*.c)) $(ARCH_SRC)
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/obj/%.o)
SO_OBJ   := $(LIB_OBJ) $(SO_SRC:%.c=$(B)/obj/%.o)

# Every test/*.c is a test, but for the helpers linked into each of them.
TEST_SRC := $(filter-out test/helpers.c,$(wildcard test/*.c))
TESTS    := $(TEST_SRC:test/%.c=$(B)/test/%)
TEST_OBJ := $(TEST_SRC:test/%.c=$(B)/obj/test/%.o)
HELPERS  := $(B)/obj/test/helpers.o
TEST_LIBS := $(patsubst test/lib/%.c,$(B)/test/lib%.so,$(wildcard test/lib/*.c))

# The sanitizer builds (test/check-all.sh) run the tests that depend
# neither on code generation details (they build at -O1), nor on fork with
# threads, valgrind or gdb. TSan runs those of the public API's promises.
SAN_TESTS := static_call_basic static_call_stress static_key_basic \
	static_key_stress transaction multi_object degraded_modes \
	handler_mask trap_chain engine_unit engine_sync_rounds engine_stress \
	engine_signal_nested insn_len_objdump hostile_mdwe hostile_seccomp_wx \
	hostile_no_writer hostile_foreign_breakpoint hostile_shadow_stack \
	hostile_thread_churn hostile_fd_reuse hostile_fork_nohandlers \
	hostile_status_unreadable hostile_seccomp_membarrier hostile_sync_signal \
	key_counting txn_compose txn_record_fail reentry_signal \
	trap_longjmp shstk_self_signal updater_sync_signals stats_truthful \
	bad_targets sigtrap_foreign engine_write_failures debug_messages \
	engine_stuck_guards sigtrap_sent_storm sigtrap_chain_flags \
	server_sigwait copies exports writer_no_wx writer_lazy_fd \
	dyndbg_parse dyndbg_output dyndbg_threads dyndbg_plugin dyndbg_env \
	dyndbg_fuzz names_list control_fuzz control_tool
# Not under sanitizers: control_socket (it forks while its server thread
# runs, and its children change uid), writer_maps_reads (it defines open() and fopen(),
# which the sanitizers intercept), hostile_no_proc (LeakSanitizer needs /proc),
# cancel_inside (ASan's sigaltstack interceptor trips over a cancelled
# thread's unwinding), unload_library (a host built without the
# sanitizer's run-time loads the library).
TSAN_TESTS := static_call_basic static_call_stress static_key_basic \
	static_key_stress transaction multi_object key_counting txn_compose \
	txn_record_fail server_sigwait copies dyndbg_threads dyndbg_plugin \
	control_fuzz

# The CMake package (find_package(ustatic)), from templates beside ustatic.pc.in.
CMAKE_CFG := $(B)/ustatic-config.cmake $(B)/ustatic-config-version.cmake

all: $(B)/libustatic.so $(B)/libustatic.a $(B)/ustatic.pc $(CMAKE_CFG) \
	$(B)/tools/ustatic-ctl

# The control client (man/ustatic-ctl.1): libc alone, no library of ours.
$(B)/tools/ustatic-ctl: tools/ustatic-ctl.c $(B)/flags.stamp | $(SYSINC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASE) $(DEPFLAGS) $< -o $@

# $(B)/NAME.stamp holds a value and is rewritten only when it changes, so
# that what depends on it is rebuilt then, and only then: the objects on
# the compiler and its flags, ustatic.pc on where it says things are.
# Written as the Makefile is read, so that make -n and -q tell the truth.
stamp = $(shell mkdir -p $(B) && echo '$(subst ','\'',$2)' | \
	cmp -s - $(B)/$1.stamp || echo '$(subst ','\'',$2)' > $(B)/$1.stamp)
ifneq ($(filter-out clean print-%,$(or $(MAKECMDGOALS),all)),)
$(call stamp,flags,$(CC) $(CFLAGS) $(BASE) $(SOFLAGS))
$(call stamp,pc,$(PREFIX) $(LIBDIR) $(INCDIR) $(VERSION))
endif

$(SO_OBJ): $(B)/obj/%.o: %.c $(B)/flags.stamp | $(SYSINC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIBFLAGS) $(DEPFLAGS) -c $< -o $@

# A sanitizer's run-time calls sigaction() while it starts, before it can
# run instrumented code: the wrappers are built without the sanitizer.
$(B)/obj/src/interpose.o: override CFLAGS := $(filter-out -fsanitize=%,$(CFLAGS))

$(B)/libustatic.so: $(SO_OBJ) src/libustatic.map
	$(CC) $(CFLAGS) -shared -Wl,--version-script=src/libustatic.map \
		-Wl,-soname,libustatic.so.0 $(SOFLAGS) $(SO_OBJ) -o $@ $(LDLIBS)
	ln -sf libustatic.so $(B)/libustatic.so.0

$(B)/libustatic.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/ustatic.pc $(CMAKE_CFG): $(B)/%: %.in $(B)/pc.stamp
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCDIR@|$(INCDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

$(TEST_OBJ) $(HELPERS): $(B)/obj/test/%.o: test/%.c $(B)/flags.stamp | $(SYSINC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_CFLAGS_$*) $(BASE) $(DEPFLAGS) -c $< -o $@

ifdef SYSINC
$(SYSINC):
	@mkdir -p $@
	ln -sfn $(SYSINC_FROM) $@/
endif

# Tests link the static archive: they may call the library's internal
# (hidden) layers directly. Multi-object tests add their own .so files.
$(TESTS): $(B)/test/%: $(B)/obj/test/%.o $(HELPERS) $(B)/libustatic.a $(TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -rdynamic $< $(HELPERS) -o $@ \
		$(or $(TEST_LIB_$*),$(B)/libustatic.a) -L$(B)/test \
		-Wl,-rpath,'$$ORIGIN' $(TEST_LDFLAGS_$*) $(LDLIBS)

$(TEST_LIBS): $(B)/test/lib%.so: test/lib/%.c $(B)/libustatic.so $(B)/flags.stamp | $(SYSINC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASE) $(DEPFLAGS) -MF $(@:.so=.d) -MT $@ -fPIC -shared $< \
		-o $@ -L$(B) -lustatic -Wl,-rpath,'$$ORIGIN/..'

# One copy of the library per process: tests with shared objects use the .so.
TEST_LIB_multi_object := -L$(B) -lustatic -Wl,-rpath,'$$ORIGIN/..'
TEST_LDFLAGS_multi_object := -lmo_key
TEST_LIB_degraded_modes := $(TEST_LIB_multi_object)
TEST_LDFLAGS_degraded_modes := -lmo_key
TEST_LIB_registry_limits := $(TEST_LIB_multi_object)
# The signal-function wrappers are in the shared library only.
TEST_LIB_server_sigwait := $(TEST_LIB_multi_object)
TEST_LIB_mask_cache := $(TEST_LIB_multi_object)
TEST_LIB_mask_libc_calls := $(TEST_LIB_multi_object)
# Plugins with their own static copy of the library (test/copies/copy.c),
# one of them from a copy built with another runtime ABI.
TEST_LIB_copies := $(TEST_LIB_multi_object)
COPY_LIBS := $(B)/test/libcopy_a.so $(B)/test/libcopy_b.so $(B)/test/libcopy_abi2.so
$(B)/test/copies: $(COPY_LIBS)
$(B)/test/libcopy_%.so: test/copies/copy.c $(B)/libustatic.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASE) -fPIC -shared $< -o $@ $(B)/libustatic.a \
		-Wl,--exclude-libs,ALL $(LDLIBS)
$(B)/test/libcopy_abi2.so: test/copies/copy.c $(B)/abi2/libustatic.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASE) -fPIC -shared $< -o $@ $(B)/abi2/libustatic.a \
		-Wl,--exclude-libs,ALL $(LDLIBS)
$(B)/abi2/libustatic.a: $(LIB_SRC)
	$(MAKE) -s B=$(B)/abi2 CFLAGS='$(CFLAGS) -DUS_RUNTIME_ABI=2' $@
# Dynamic debug: plugins dlopen'd beside the executable's sites and names.
# names_list links the archive (it asks the hidden layer) and loads a copy
# of the plugin that takes the library from the executable (-rdynamic).
TEST_LIB_dyndbg_plugin := $(TEST_LIB_multi_object)
$(B)/test/dyndbg_plugin: $(B)/test/libdd_plugin.so
$(B)/test/names_list: $(B)/test/libdd_plugin_bare.so
$(B)/test/libdd_plugin_bare.so: test/lib/dd_plugin.c include/ustatic.h $(B)/flags.stamp | $(SYSINC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASE) -fPIC -shared $< -o $@
# 20,000 sites in one file: -O1 without debug info keeps its build short.
TEST_CFLAGS_registry_limits := -O1 -g0
TEST_LDFLAGS_registry_limits := -lmo_key

-include $(wildcard $(SO_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(HELPERS:.o=.d) \
	$(TEST_LIBS:.so=.d) $(B)/tools/ustatic-ctl.d)

tests: $(TESTS)

# Every build we support (native, generic fallback, aarch64 under qemu).
check:
	@test/check-all.sh

# Just this build's suite.
check-native: all tests
	@test/run-tests.sh $(TESTS)

# `make -s print-SAN_TESTS`: a variable's value (test/check-all.sh asks).
print-%:
	@echo '$($*)'

run: all
	$(MAKE) -s -C examples showcase
	./examples/showcase

bench: all
	$(MAKE) -C bench run

MAN1 := $(notdir $(wildcard man/*.1))
MAN3 := $(notdir $(wildcard man/*.3))
MAN7 := $(notdir $(wildcard man/*.7))

install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
		$(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(LIBDIR)/cmake/ustatic
	install -m 755 $(B)/tools/ustatic-ctl $(DESTDIR)$(BINDIR)/
	install -m 644 $(MAN1:%=man/%) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 include/ustatic.h $(DESTDIR)$(INCDIR)/
	install -m 755 $(B)/libustatic.so $(DESTDIR)$(LIBDIR)/libustatic.so.$(VERSION)
	ln -sf libustatic.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libustatic.so.0
	ln -sf libustatic.so.0 $(DESTDIR)$(LIBDIR)/libustatic.so
	install -m 644 $(B)/libustatic.a $(DESTDIR)$(LIBDIR)/
	install -m 644 $(B)/ustatic.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	install -m 644 $(CMAKE_CFG) $(DESTDIR)$(LIBDIR)/cmake/ustatic/
	install -m 644 $(MAN3:%=man/%) $(DESTDIR)$(MANDIR)/man3/
	install -m 644 $(MAN7:%=man/%) $(DESTDIR)$(MANDIR)/man7/
ifneq ($(filter /lib% /usr/lib% /usr/local/lib%,$(LIBDIR)),)
	@echo "$(LIBDIR) is a system library directory: run ldconfig (as root)" \
	      "so that the dynamic linker finds libustatic.so.0 there."
endif

# What install put there. A live system keeps its directories; in a
# staging tree (DESTDIR) they go too, as far as they are empty.
uninstall:
	rm -f $(DESTDIR)$(INCDIR)/ustatic.h $(DESTDIR)$(BINDIR)/ustatic-ctl \
	      $(MAN1:%=$(DESTDIR)$(MANDIR)/man1/%) \
	      $(DESTDIR)$(LIBDIR)/libustatic.so.$(VERSION) \
	      $(DESTDIR)$(LIBDIR)/libustatic.so.0 \
	      $(DESTDIR)$(LIBDIR)/libustatic.so \
	      $(DESTDIR)$(LIBDIR)/libustatic.a \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/ustatic.pc \
	      $(CMAKE_CFG:$(B)/%=$(DESTDIR)$(LIBDIR)/cmake/ustatic/%) \
	      $(MAN3:%=$(DESTDIR)$(MANDIR)/man3/%) \
	      $(MAN7:%=$(DESTDIR)$(MANDIR)/man7/%)
	@# cmake/ustatic is ours alone: it goes on a live system too.
	rmdir $(DESTDIR)$(LIBDIR)/cmake/ustatic 2>/dev/null || :
	@# Directories install made and left empty go too, each by name
	@# (never a parent above PREFIX), but never the system's own (/usr,
	@# /usr/local) on a live system.
ifneq ($(DESTDIR)$(filter-out /usr /usr/local,$(PREFIX)),)
	for d in $(LIBDIR)/pkgconfig $(LIBDIR)/cmake $(LIBDIR) $(INCDIR) \
		 $(BINDIR) $(MANDIR)/man1 $(MANDIR)/man3 $(MANDIR)/man7 \
		 $(MANDIR) $(PREFIX)/share $(PREFIX); do \
		rmdir "$(DESTDIR)$$d" 2>/dev/null || :; \
	done
endif
ifneq ($(DESTDIR),)
	cd $(DESTDIR) && rmdir -p --ignore-fail-on-non-empty .$(dir $(PREFIX)) 2>/dev/null || :
endif

clean:
	rm -rf $(B)

.PHONY: all tests check check-native run bench install uninstall clean
.SECONDARY:
include test/fuzz.mk
