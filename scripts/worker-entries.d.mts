export declare const workerEntries: Record<string, string>;
