// Every test file sees a stand-in worker, so `app.http(...)` in a function file registers as it would in
// Azure instead of warning that @azure/functions is in "test mode".
jest.mock(
    '@azure/functions-core',
    () => jest.requireActual<typeof import('./functionsCore')>('./functionsCore').functionsCore,
    { virtual: true },
);
