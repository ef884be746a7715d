import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "charts/**", "coverage/**"] },
  { files: ["**/*.cjs"], languageOptions: { sourceType: "commonjs", globals: { module: "writable" } } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-console": "error",
    },
  },
  {
    // nock's lifecycle (no net, leftover mocks fail the test) lives in one helper.
    files: ["test/**"],
    ignores: ["test/helpers/nock.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        { paths: [{ name: "nock", message: "use test/helpers/nock.ts (useNock)" }] },
      ],
    },
  },
  {
    files: ["test/**", "src/main.ts", "src/cli/**"],
    rules: { "no-console": "off" },
  },
);
