/**
 * main.ts's first import, so that a process lacking its role's heap flags re-executes itself before it has
 * spent a second loading the modules it would load again (heap-flags.ts).
 */
import { applyHeapFlags } from './heap-flags';

applyHeapFlags();
