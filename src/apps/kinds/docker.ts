// The `docker` kind: `apps.docker run --rm --init --name <appId> --network host … <config.image> <config.args>`, with
// the app's SDV_*/KUKSA_* variables and its own config.env passed into the container. Refused at deploy and at run
// when the CLI is not on this box.
import { badRequest } from '../../core/errors';
import { onPath, type AppKind } from './kind';

const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/;

export const docker: AppKind = {
  name: 'docker',
  code: 'unused',
  files: [],
  checkConfig(config): void {
    if (!config.image || !IMAGE.test(config.image)) throw badRequest('config.image: a docker app needs an image name like "repo/name:tag"');
  },
  install: () => { /* the image is the code */ },
  service: false,
  spawn({ id, config, apps, env }) {
    const args = ['run', '--rm', '--init', '--name', id, '--network', 'host'];
    for (const [k, v] of Object.entries(env)) if (k.startsWith('SDV_') || k.startsWith('KUKSA_') || k in config.env) args.push('-e', `${k}=${v}`);
    args.push(config.image ?? '', ...config.args);
    return { file: apps.docker, args };
  },
  unavailable: (apps) => onPath(apps.docker) ? null : 'docker is not available on this box',
  rlimits: true,
  importHints: false,
};
