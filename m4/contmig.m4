# contmig's own configure checks.

# CM_REQUIRE_PROG(VAR, PROGRAM, DEBIAN-PACKAGE)
# Find PROGRAM or stop with the Debian package that provides it.
AC_DEFUN([CM_REQUIRE_PROG], [
	AC_PATH_PROG([$1], [$2])
	AS_IF([test -z "$$1"],
		[AC_MSG_ERROR([$2 not found; on Debian: apt-get install $3 (or run ./install-deps)])])
])

# CM_REQUIRE_PKG(PREFIX, PKG-CONFIG-MODULES, DEBIAN-PACKAGE)
# Find a library through pkg-config or stop with the Debian package that provides it.
AC_DEFUN([CM_REQUIRE_PKG], [
	PKG_CHECK_MODULES([$1], [$2], [],
		[AC_MSG_ERROR([$2 not found; on Debian: apt-get install $3 (or run ./install-deps)])])
])

# CM_WARN_FLAGS(VAR, FLAGS)
# Append to VAR each of FLAGS that the C compiler accepts.
AC_DEFUN([CM_WARN_FLAGS], [
	cm_save_CFLAGS=$CFLAGS
	for cm_flag in m4_normalize([$2]); do
		AC_MSG_CHECKING([whether $CC accepts $cm_flag])
		CFLAGS="$cm_save_CFLAGS -Werror $cm_flag"
		AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
			[AC_MSG_RESULT([yes]); $1="$$1 $cm_flag"],
			[AC_MSG_RESULT([no])])
	done
	CFLAGS=$cm_save_CFLAGS
])
