import { UserError } from '../../src/errors.js';

/** The one line a UserError says, for in-process refusals; anything else thrown, or nothing, fails the test. */
export async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof UserError) return err.message;
    throw err;
  }
  throw new Error('expected a UserError');
}
