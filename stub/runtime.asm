; runtime.asm - the routines of continuum.inc as an object for libcontinuum.a,
; for C targets and for assembly targets that link crt0.o.
%include "continuum.inc"
