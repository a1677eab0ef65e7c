; nocanary - a program that keeps every rule of the contract but one: its own
; _start sets up the fixed stack and never pushes crt0's canary.  It prints
; "tick" every 100 ms, for ever.
;
; check must name the missing canary, and freeze and send must refuse it
; before they stop it: thaw would refuse its image, so a freeze that ended it
; would lose it.

%include "continuum.inc"

global _start

section .data
interval:	dq 0, 100000000		; struct timespec: 100 ms
tick:		db "tick", 10

section .text
_start:
	call setup_fixed_stack		; RSP = RBP = the top of the fixed stack; no canary
.tick:
	OS_WRITE 1, tick, 5
	OS_NANOSLEEP interval, 0
	jmp .tick
