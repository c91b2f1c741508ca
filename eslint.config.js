// ESLint (flat config): typescript-eslint's recommended rules over src/ and test/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', '.run-dist*/', 'node_modules/', 'runs/', 'data/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // Unused names are errors, except deliberate placeholders like `_name` in test tables.
      // Prettier wraps code at 150 but leaves long strings and comments alone; past 160 a line is broken by hand.
      'max-len': ['error', { code: 160, ignoreUrls: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  {
    // Example and build scripts run as plain Node ESM (examples/, assembly/build.mjs).
    files: ['examples/**/*.mjs', 'assembly/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly' } },
  },
  {
    // AssemblyScript compiles an integer literal at its declared width: 0x3ff71547652b82fe is that u64 exactly, not a
    // JavaScript number (musl's exponential table, assembly/exp.ts).
    files: ['assembly/**/*.ts'],
    rules: { 'no-loss-of-precision': 'off' },
  },
  {
    // The dependency-cruiser rules files are CommonJS (dependency-cruiser loads them with require).
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
);
