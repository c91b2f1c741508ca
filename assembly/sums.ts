/**
 * How a sum over rows meets its output, for the register sums of both of the kernel's ways (fused.ts vecMat,
 * lanes.ts weightedSums): stored alone, started from the output's value as its first term (so it goes on from
 * where an earlier sum stood), or added to the output after.
 */
export const STORE = 0;
export const START_FROM = 1;
export const ADD_AFTER = 2;
