/** Backend names without loading TensorFlow.js, so the CLI and a sweep's parent process stay light. */
export type BackendName = 'node' | 'wasm' | 'cpu';
export type BackendChoice = BackendName | 'auto';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'node', 'wasm', 'cpu'];
