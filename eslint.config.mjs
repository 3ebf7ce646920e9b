import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const electronImports = {
  paths: [
    { name: 'electron', message: 'main/engine is plain Node: put Electron code in main/desktop behind a port.' },
    { name: 'electron-store', message: 'main/engine is plain Node: use the SettingsStore port.' },
  ],
};

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', 'coverage/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Everything tests, the CLI and the web bridge load must run without the Electron binary.
    files: ['main/engine/**', 'main/api/**', 'main/bridge/**', 'main/cli/**'],
    rules: { 'no-restricted-imports': ['error', electronImports] },
  },
  {
    files: ['**/*.cjs', 'scripts/**', 'bin/**'],
    languageOptions: { globals: { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
