import "@testing-library/jest-dom/vitest";
import { configure } from "@testing-library/react";

// findBy* and waitFor give up after this long (the library's default is one
// second, which a loaded machine can exceed while rendering). Passing tests
// return as soon as their condition holds; only a failing one waits it out.
configure({ asyncUtilTimeout: 30_000 });
