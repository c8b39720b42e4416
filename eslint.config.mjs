// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Packages a function file may import only as types, or lazily inside its handler. */
const HEAVY_PACKAGES = [
    'twilio',
    '@azure/identity',
    '@azure/keyvault-secrets',
    '@azure/data-tables',
    '@azure/storage-queue',
    '@azure/storage-blob',
    'zod',
];

const LAZY_IMPORT_MESSAGE =
    'Function files load on the cold start of every function, the webhooks included, so a value import ' +
    'here slows every one of them. Load it where it is first used: ' +
    "`const x = lazy(() => import('…'))` (shared/platform/lazy.ts) at the top of the file and `await x()` " +
    'inside the handler, or `import type` for its types only.';

export default tseslint.config(
    { ignores: ['dist/', 'coverage/', 'node_modules/', '.azurite/'] },
    eslint.configs.recommended,
    ...tseslint.configs.strictTypeChecked,
    {
        languageOptions: {
            parserOptions: {
                projectService: { allowDefaultProject: ['*.js', '*.mjs'] },
                tsconfigRootDir: import.meta.dirname,
            },
        },
        rules: {
            '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
            '@typescript-eslint/no-unused-vars': [
                'error',
                { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
            ],
            '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
            'no-restricted-properties': [
                'error',
                {
                    object: 'process',
                    property: 'env',
                    message: 'Read settings through shared/platform/config.ts.',
                },
            ],
        },
    },
    {
        // Every function file is loaded when the app starts, so what it imports every cold start pays for,
        // the webhooks' included (test/integration/moduleLoad.test.ts measures it; this says it while you type).
        files: ['functions/**/*.ts'],
        rules: {
            '@typescript-eslint/no-restricted-imports': [
                'error',
                {
                    paths: HEAVY_PACKAGES.map((name) => ({
                        name,
                        allowTypeImports: true,
                        message: LAZY_IMPORT_MESSAGE,
                    })),
                    patterns: [
                        {
                            group: HEAVY_PACKAGES.map((name) => `${name}/*`),
                            allowTypeImports: true,
                            message: LAZY_IMPORT_MESSAGE,
                        },
                        {
                            // The app's modules that load those packages or are large themselves; the
                            // light ones (platform/, webhooks/receive, outbound/ and media/ settings, the
                            // twimlet registry and step) stay importable.
                            regex: '^(?:\\.{1,2}/)+shared/(?:api/|ledger/|messaging/|outbound/(?!settings$)|media/(?!settings$)|voice/(?!twimlets/(?:contract|registry|step)$)|webhooks/(?:inboundMessage|statusCallback)$)',
                            allowTypeImports: true,
                            message: LAZY_IMPORT_MESSAGE,
                        },
                    ],
                },
            ],
        },
    },
    {
        files: ['test/**', 'local/**', 'bench/**', 'shared/platform/config.ts', '**/*.js', '**/*.mjs'],
        rules: { 'no-restricted-properties': 'off' },
    },
    {
        files: ['**/*.js', '**/*.mjs'],
        extends: [tseslint.configs.disableTypeChecked],
        languageOptions: {
            sourceType: 'commonjs',
            globals: {
                module: 'writable',
                require: 'readonly',
                __dirname: 'readonly',
                process: 'readonly',
                Buffer: 'readonly',
            },
        },
        rules: { '@typescript-eslint/no-require-imports': 'off' },
    },
);
