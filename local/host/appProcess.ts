/**
 * The local host in a process of its own, as the Functions host runs the Node.js worker: `npm start` keeps
 * Azurite and the Twilio sandbox in its own process tree and starts this one for the app, so Node options
 * (`--inspect`, `languageWorkers__node__arguments`) reach the app's process only, and `npm run dev` reloads
 * the functions by starting a fresh process while Azurite and the sandbox keep running.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PortInUseError, stopChild } from '../azurite';

/** What the host process tells its parent over IPC (see main.ts). */
export type HostMessage =
    | { type: 'listening'; url: string }
    | { type: 'port-in-use'; port: number }
    | { type: 'failed'; message: string };

/** The host could not start and has already printed why (its output is the app's output). */
export class HostStartError extends Error {
    constructor(message: string) {
        super(message);
        this.name = 'HostStartError';
    }
}

export interface AppProcessOptions {
    appDir: string;
    port: number;
    /** The environment of the app: the settings, as the host passes them to the worker. */
    env: NodeJS.ProcessEnv;
    /** Node options for the app's process only (`--inspect=9229`, `--enable-source-maps`, …). */
    nodeArgs?: readonly string[];
    /** `'inherit'` (npm start) or `'pipe'` (tests read the output from {@link AppProcess.child}). */
    stdio?: 'inherit' | 'pipe';
    /** The host entry and the Node options it needs to load (tests run main.ts through a TypeScript hook). */
    entry?: string;
    execArgv?: readonly string[];
}

export interface AppProcess {
    readonly url: string;
    readonly child: ChildProcess;
    /** Stops the current process and starts a fresh one on the same port. */
    reload(): Promise<void>;
    stop(): Promise<void>;
    /** Called when the process exits without being asked to (a crash, a failed start after a reload). */
    onUnexpectedExit(listener: (code: number | null) => void): void;
}

/** Node options that must not follow the parent into the app's process: its own inspector, if any. */
function inheritedExecArgv(): string[] {
    return process.execArgv.filter((arg) => !/^--(inspect|debug)(-brk|-port|-wait)?(=|$)/.test(arg));
}

/**
 * Starts the local host for `appDir` in a child process and resolves once it listens.
 *
 * @throws PortInUseError when the port is taken; HostStartError when the host could not start.
 */
export async function startAppProcess(options: AppProcessOptions): Promise<AppProcess> {
    const entry = options.entry ?? path.join(__dirname, `main${path.extname(__filename)}`);
    const execArgv = options.execArgv ?? inheritedExecArgv();
    let expected = false;
    const listeners: ((code: number | null) => void)[] = [];

    const launch = () =>
        new Promise<{ child: ChildProcess; url: string }>((resolve, reject) => {
            const child = spawn(
                process.execPath,
                [
                    ...execArgv,
                    ...(options.nodeArgs ?? []),
                    entry,
                    '--app',
                    options.appDir,
                    '--port',
                    String(options.port),
                ],
                {
                    cwd: options.appDir,
                    env: options.env,
                    stdio: ['ignore', options.stdio ?? 'inherit', options.stdio ?? 'inherit', 'ipc'],
                },
            );
            let failure: Error | undefined;
            const onMessage = (message: HostMessage) => {
                if (message.type === 'listening') {
                    child.off('exit', onStartExit);
                    child.on('exit', (code) => {
                        if (!expected) for (const listener of listeners) listener(code);
                    });
                    resolve({ child, url: message.url });
                } else if (message.type === 'port-in-use') {
                    failure = new PortInUseError(message.port, 'the app');
                } else {
                    failure = new HostStartError(message.message);
                }
            };
            const onStartExit = (code: number | null) => {
                reject(failure ?? new Error(`The local host exited (code ${String(code)}) before listening`));
            };
            child.on('message', onMessage);
            child.once('exit', onStartExit);
        });

    let current = await launch();
    return {
        get url() {
            return current.url;
        },
        get child() {
            return current.child;
        },
        async reload() {
            expected = true;
            try {
                await stopChild(current.child);
            } finally {
                expected = false;
            }
            current = await launch();
        },
        async stop() {
            expected = true;
            await stopChild(current.child);
        },
        onUnexpectedExit(listener) {
            listeners.push(listener);
        },
    };
}
