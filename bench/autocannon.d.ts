/** The part of autocannon's API the benchmark uses (the package ships no types). */
declare module 'autocannon' {
    namespace autocannon {
        interface Options {
            url: string;
            connections?: number;
            /** Seconds. */
            duration?: number;
            method?: string;
            headers?: Record<string, string>;
        }
        /** Statistics over autocannon's one-second samples (requests, throughput) or over requests (latency). */
        interface Histogram {
            average: number;
            mean: number;
            stddev: number;
            min: number;
            max: number;
            p50: number;
            p99: number;
            total: number;
        }
        interface Result {
            requests: Histogram;
            latency: Histogram;
            throughput: Histogram;
            errors: number;
            timeouts: number;
            non2xx: number;
            '2xx': number;
            /** Seconds. */
            duration: number;
            /** How many one-second samples `requests` and `throughput` are over. */
            samples: number;
        }
    }
    function autocannon(options: autocannon.Options): Promise<autocannon.Result>;
    export = autocannon;
}
