// The CLI's version, read from packages/cli/package.json (the one place it is written).
import packageJson from '../package.json' with { type: 'json' };

export const CLI_VERSION: string = packageJson.version;
