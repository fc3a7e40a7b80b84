# SPDX-License-Identifier: GPL-2.0-only
#
# klp.mk - run klp's two stages as part of a kernel build, without patching
# the kernel.  It is a makefile that drives the kernel's own, so it takes the
# same command line (-C, O=, M=, ARCH=, CROSS_COMPILE=, LLVM=, V=, -j):
#
#   KLP_MK=$(klp --kbuild-mk)
#   make -f "$KLP_MK" -C <kernel tree> -j8                 the tree and its modules
#   make -f "$KLP_MK" -C <kernel tree> M=<abs dir> -j8     external modules
#
# The default goal does three things, each only when its inputs changed:
#
# 1. builds the kernel (or with M=, the external modules) with
#    KBUILD_MODPOST_WARN=1, so that modpost accepts a livepatch module's
#    references to symbols the kernel does not export.  Note that this turns
#    every modpost error into a warning, for every module of the build;
# 2. once vmlinux and modules.order exist, runs
#    `klp symdb build --kernel-tree <objtree>`.  The result replaces
#    symbols.klp only when its content differs, so a rebuild that changes no
#    symbol leaves symbols.klp (and its time stamp) alone;
# 3. runs `klp convert --in-place` on every livepatch module (.modinfo
#    livepatch=Y, or listed in modules.livepatch when the kernel writes that
#    file) of modules.order: the tree's, or with M= the external one.  A
#    module is converted again only when kbuild relinked it or symbols.klp
#    changed.
#
# Goals:
#   all (default)  the three steps
#   klp-build      step 1 only: the kernel's make with KBUILD_MODPOST_WARN=1
#   klp-symdb      step 2 only, on an already built tree
#   klp-convert    steps 2 and 3, on an already built tree (or M= folder)
#   klp-clean      undo steps 2 and 3: put back the modules as kbuild linked
#                  them, delete the stamps and the symbols.klp step 2 built
#   klp-help       this text
#
# Variables (on the command line or in the environment):
#   KLP=klp            the klp command, e.g. KLP="python3 -m klp"
#   KLP_SYMDB=<objtree>/symbols.klp
#                      the symbol database.  Step 2 builds it only when it is
#                      this default: a KLP_SYMDB given on the command line or
#                      in the environment is used as it is (it must exist).
#                      When the tree has no vmlinux (a distro's headers
#                      package, with M=), KLP_SYMDB must name a database built
#                      beforehand (klp symdb build --vmlinux ... --modules ...
#                      --symvers ...)
#   KLP_SYMVERS=<objtree>/Module.symvers   exports, for klp convert (if present)
#   KLP_CONVERT_FLAGS  extra options for every klp convert
#   KLP_INCLUDE_DIR    exported to kbuild: the folder of klp-reloc.h (default:
#                      the one next to this file, what `klp --include-dir` prints)
#   KLP_BUILD_GOALS    the kernel make goals of step 1 (default: the kernel's
#                      default goal; with M=, "modules")
#
# Files it writes, next to each livepatch module foo.ko (both match patterns
# that `make clean` already deletes):
#   .foo.ko.klp-orig   the module as kbuild linked it; a conversion always
#                      starts from this copy
#   .foo.ko.klp-stamp  stamp: the SHA-256 of the converted module
# and next to symbols.klp: .symbols.klp.stamp (time of the last scan).
#
# A failed conversion deletes foo.ko (like a failed kbuild rule) and keeps
# .foo.ko.klp-orig, so nothing unconverted can be installed by mistake; the
# next make relinks the module and tries again.
#
# Why a makefile: it is the kernel's own interface (the same variables reach
# kbuild unchanged through MAKEFLAGS, -j and the jobserver are shared), it
# needs nothing in the kernel tree, and make's time stamps plus the stamps
# above give the incremental behaviour.

klp_mk := $(abspath $(lastword $(MAKEFILE_LIST)))

KLP ?= klp
KLP_CONVERT_FLAGS ?=
KLP_BUILD_GOALS ?= $(if $(M),modules)
# klp-reloc.h (KLP_MODULE_RELOC, KLP_SYMPOS) for the livepatch's Makefile:
#   CFLAGS_foo.o += -I$(KLP_INCLUDE_DIR)    or    ccflags-y += -I$(KLP_INCLUDE_DIR)
export KLP_INCLUDE_DIR ?= $(abspath $(dir $(klp_mk))../include)

klp_Q := $(if $(filter 1 2,$(V)),,@)
klp_objtree := $(abspath $(or $(O),$(KBUILD_OUTPUT),.))
KLP_SYMDB ?= $(klp_objtree)/symbols.klp
# A KLP_SYMDB given on the command line or in the environment is the user's (built
# with the modules the patches target, say): used as it is, never rebuilt or deleted.
klp_users_symdb := $(filter-out file,$(origin KLP_SYMDB))
KLP_SYMVERS ?= $(klp_objtree)/Module.symvers

.PHONY: all klp-build klp-symdb klp-convert klp-clean klp-help klp-post FORCE
.DEFAULT_GOAL := all

ifneq ($(KLP_STAGE),post)
# ------------------------------------------------------------------ front end
# The module lists below must be read after the build, so the klp steps run
# in a second make that parses this file again (KLP_STAGE=post).

all: klp-build
	$(klp_Q)$(MAKE) --no-print-directory -f $(klp_mk) KLP_STAGE=post klp-post

klp-build:
	$(klp_Q)$(MAKE) KBUILD_MODPOST_WARN=1 $(KLP_BUILD_GOALS)

klp-symdb klp-convert klp-clean:
	$(klp_Q)$(MAKE) --no-print-directory -f $(klp_mk) KLP_STAGE=post $@

klp-help:
	@sed -n '3,/^$$/p' $(klp_mk) | sed 's/^# \{0,1\}//'

else
# ------------------------------------------------------------------ klp steps

klp_moddir := $(if $(M),$(abspath $(M)),$(klp_objtree))

# klp_list FILE: the modules a list file (modules.order, modules.livepatch)
# names, as .ko paths (kbuild writes foo.o or foo.ko per line, relative to the
# object tree or absolute); nothing when FILE does not exist (sed must never
# be left reading the terminal)
klp_list = $(if $(wildcard $(1)),$(foreach m,$(shell sed -e 's/\.o$$/.ko/' $(1) </dev/null),\
	$(if $(filter /%,$(m)),$(m),$(klp_objtree)/$(m))))

# klp_modules DIR: the modules DIR/modules.order lists
klp_modules = $(call klp_list,$(1)/modules.order)

# klp_livepatches FILE...: those that are livepatch modules: a .modinfo
# record "livepatch=Y" (one NUL-terminated record, hence grep -z -x), or a
# line of modules.livepatch (kernels with the klp-convert patches write it)
klp_livepatches = $(sort \
	$(if $(1),$(shell grep -lzxF livepatch=Y $(wildcard $(1)) /dev/null)) \
	$(filter $(1),$(foreach d,$(klp_moddir) $(klp_objtree),\
		$(call klp_list,$(d)/modules.livepatch))))

klp_convert_modules := $(call klp_modules,$(klp_moddir))
klp_convert_list := $(call klp_livepatches,$(klp_convert_modules))

klp_stamp = $(dir $(1)).$(notdir $(1)).klp-stamp
klp_orig = $(dir $(1)).$(notdir $(1)).klp-orig
klp_symdb_stamp := $(dir $(KLP_SYMDB)).$(notdir $(KLP_SYMDB)).stamp
klp_rel = $(patsubst $(klp_objtree)/%,%,$(1))

# Step 2: the symbol database of a built tree.  The stamp records when the
# tree was last scanned; symbols.klp itself changes only with its content, so
# what depends on it (the conversions) reruns only when a symbol changed.
ifneq ($(klp_users_symdb),)
$(KLP_SYMDB):
	@test -f $@ || { echo "klp.mk: KLP_SYMDB=$@ does not exist" >&2; exit 1; }

klp-symdb:
	@echo "klp.mk: KLP_SYMDB=$(KLP_SYMDB) is given, so klp.mk does not build it" >&2
	@exit 1
else ifneq ($(wildcard $(klp_objtree)/vmlinux),)
klp_tree_modules := $(if $(M),$(call klp_modules,$(klp_objtree)),$(klp_convert_modules))
klp_tree_livepatches := $(if $(M),$(call klp_livepatches,$(klp_tree_modules)),$(klp_convert_list))
klp_symdb_inputs := $(klp_objtree)/vmlinux $(wildcard $(klp_objtree)/modules.order \
	$(klp_objtree)/Module.symvers $(filter-out $(klp_tree_livepatches),$(klp_tree_modules)))

$(klp_symdb_stamp): $(klp_symdb_inputs) $(if $(wildcard $(KLP_SYMDB)),,FORCE)
	$(klp_Q)$(KLP) symdb build --kernel-tree $(klp_objtree) -o $(KLP_SYMDB).tmp
	$(klp_Q)if cmp -s $(KLP_SYMDB).tmp $(KLP_SYMDB); then \
		rm -f $(KLP_SYMDB).tmp; echo "  KLP     $(call klp_rel,$(KLP_SYMDB)) (unchanged)"; \
	else \
		mv -f $(KLP_SYMDB).tmp $(KLP_SYMDB); echo "  KLP     $(call klp_rel,$(KLP_SYMDB))"; \
	fi
	$(klp_Q)touch $@

$(KLP_SYMDB): $(klp_symdb_stamp) ;

klp-symdb: $(klp_symdb_stamp)
klp-post: klp-symdb
else
$(KLP_SYMDB):
	@echo "klp.mk: $(klp_objtree) has no vmlinux, so KLP_SYMDB must name a symbol" >&2
	@echo "        database built beforehand; $(KLP_SYMDB) does not exist." >&2
	@echo "        (klp symdb build --vmlinux ... --modules ... --symvers ... -o FILE)" >&2
	@exit 1

klp-symdb:
	@echo "klp.mk: $(klp_objtree) has no vmlinux: nothing to scan" >&2
	@exit 1
endif

# Step 3: one stamp per livepatch module.  The recipe tells kbuild's output
# (a module whose hash is not the stamp's) from its own earlier output (the
# same hash: symbols.klp changed), and converts a fresh copy of kbuild's
# output in both cases.
klp_symvers_flag = $(if $(wildcard $(KLP_SYMVERS)),--symvers $(KLP_SYMVERS))

define klp_convert_cmd
	set -e; m=$(1); s=$(call klp_stamp,$(1)); o=$(call klp_orig,$(1)); \
	h=$$(sha256sum < "$$m" | cut -d' ' -f1); \
	if [ -f "$$s" ] && [ -f "$$o" ] && [ "$$(head -n 1 "$$s")" = "$$h" ]; then \
		cp -f "$$o" "$$m.klp-tmp" && mv -f "$$m.klp-tmp" "$$m"; \
	else \
		cp -f "$$m" "$$o.klp-tmp" && mv -f "$$o.klp-tmp" "$$o"; \
	fi; \
	rm -f "$$s"; \
	echo "  KLP     $(call klp_rel,$(1))"; \
	if ! $(KLP) convert --in-place "$$m" --symdb $(KLP_SYMDB) $(klp_symvers_flag) \
			$(KLP_CONVERT_FLAGS) $(if $(klp_Q),>/dev/null); then \
		rm -f "$$m"; \
		echo "klp.mk: $$m deleted: not converted (kbuild's output is in $$o)" >&2; \
		exit 1; \
	fi; \
	sha256sum < "$$m" | cut -d' ' -f1 > "$$s"
endef

define klp_convert_rule
$(call klp_stamp,$(1)): $(1) $(KLP_SYMDB)
	$$(klp_Q)$$(call klp_convert_cmd,$(1))
endef
$(foreach m,$(klp_convert_list),$(eval $(call klp_convert_rule,$(m))))

klp-post: klp-convert

klp-convert: $(foreach m,$(klp_convert_list),$(call klp_stamp,$(m)))
	$(klp_Q)$(if $(klp_convert_list),:,echo "  KLP     no livepatch module in $(klp_moddir)/modules.order")

klp-clean:
	$(klp_Q)find $(klp_moddir) -name '.*.ko.klp-orig' -type f | while read -r o; do \
		d=$${o%/*}; b=$${o##*/}; b=$${b#.}; m=$$d/$${b%.klp-orig}; \
		echo "  RESTORE $${m#$(klp_objtree)/}"; mv -f "$$o" "$$m"; \
	done
	$(klp_Q)find $(klp_moddir) -name '.*.ko.klp-stamp' -type f -delete
	$(klp_Q)$(if $(M)$(klp_users_symdb),:,rm -f $(KLP_SYMDB) $(KLP_SYMDB).tmp $(klp_symdb_stamp))

endif
