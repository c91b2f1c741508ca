/** Turns yargs' complaints about flags into one line with a suggestion, as config keys get. */
import { closest, distance } from 'fastest-levenshtein';

/** "Unknown argument: worker" → "unknown flag --worker; did you mean --workers?", when a known flag is close. */
export function unknownFlagLine(message: string, knownFlags: readonly string[]): string | null {
  const m = /^Unknown arguments?: (.+)$/.exec(message.trim());
  if (!m) return null;
  const listed = m[1]
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  // yargs names a kebab-case flag twice, also as camelCase (data-dri, dataDri): keep the one the user typed.
  const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const given = listed.filter((s) => !(/[A-Z]/.test(s) && listed.includes(kebab(s))));
  const long = knownFlags.filter((f) => f.length > 1 && !/[A-Z]/.test(f)); // yargs also lists camelCase aliases: dataDir for data-dir
  const parts = given.map((arg) => {
    const name = arg.replace(/^-+/, '');
    const flag = `${name.length > 1 ? '--' : '-'}${name}`;
    if (!long.length) return `unknown flag ${flag}`;
    const near = closest(name, long);
    // Within a third of the name's length: "worker" → "workers", but "foo" suggests nothing.
    return distance(name, near) <= Math.max(1, Math.floor(name.length / 3))
      ? `unknown flag ${flag}; did you mean --${near}?`
      : `unknown flag ${flag}`;
  });
  return `${parts.join('; ')} (see --help)`;
}
