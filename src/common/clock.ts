/** CLOCK_MONOTONIC in ms: one clock for every process on the machine, deaf to wall-clock jumps. */
export const monoMs = (): number => Number(process.hrtime.bigint() / 1_000_000n);
