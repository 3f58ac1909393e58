// The environment every child starts from: an allow-list of the agent's (src/user-code/child-env.ts); the chaos suite prints
// it from every kind of child (test/chaos/user-code.test.ts).
import t from 'tap';
import { inheritedEnv } from '../../src/user-code/child-env';

t.test('child environments: an allow-list of the agent\'s, never an SDV_AGENT_ name', async (t) => {
  const env = { PATH: '/bin', LANG: 'C', LC_ALL: 'C', TZ: 'UTC', HOME: '/root', SDV_AGENT_API_TOKEN: 's', AWS_SECRET_ACCESS_KEY: 'k', PIP_INDEX_URL: 'http://i', http_proxy: 'http://p', SDV_AGENT_PIP_X: 'no' };
  t.same(inheritedEnv([], env), { PATH: '/bin', LANG: 'C', LC_ALL: 'C', TZ: 'UTC' });
  t.same(inheritedEnv([/^PIP_/, /^http_proxy$/i, /^SDV_/], env), { PATH: '/bin', LANG: 'C', LC_ALL: 'C', TZ: 'UTC', PIP_INDEX_URL: 'http://i', http_proxy: 'http://p' }, 'even a pattern that matches cannot pass SDV_AGENT_*');
});
