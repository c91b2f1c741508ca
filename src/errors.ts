/** A problem with what the user gave us: printed as one line, exit code 2, never a stack trace. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** Exit code for bad input; 1 is reserved for "ran fine, verdict not reproduced". */
export const USER_ERROR_EXIT = 2;

/** The one place errors reach the terminal. */
export function reportError(err: unknown): number {
  if (err instanceof UserError) {
    process.stderr.write(`qkv-lab: ${err.message.split('\n')[0]}\n`);
    return USER_ERROR_EXIT;
  }
  process.stderr.write(`qkv-lab: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 3;
}
