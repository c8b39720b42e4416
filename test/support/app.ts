import { parseConfig } from '../../shared/platform/config';
import { createDependencies, setDependencies } from '../../shared/platform/dependencies';

/** Installs the app's services built from `settings`, exactly as the app builds them from its environment. */
export function useSettings(settings: Record<string, string>): void {
    setDependencies(createDependencies(parseConfig(settings)));
}
