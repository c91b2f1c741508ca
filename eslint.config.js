// ESLint (flat config): typescript-eslint's recommended rules over src/ and test/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config({ ignores: ['dist/', 'node_modules/', 'runs/', 'data/'] }, js.configs.recommended, ...tseslint.configs.recommended, {
  rules: {
    // Unused names are errors, except deliberate placeholders like `_name` in test tables.
    '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
  },
});
