/**
 * Wraps an async loader so it runs once and every caller shares its promise. A rejected load is forgotten,
 * so the next call tries again instead of failing forever.
 */
export function lazy<T>(load: () => Promise<T>): () => Promise<T> {
    let promise: Promise<T> | undefined;
    return () => {
        promise ??= load().catch((error: unknown) => {
            promise = undefined;
            throw error;
        });
        return promise;
    };
}
