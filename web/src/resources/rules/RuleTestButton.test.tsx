import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import {
  AdminContext,
  RecordContextProvider,
  usePermissions,
  type AuthProvider,
} from 'react-admin';
import type { NotifyProDataProvider } from '../../providers/dataProvider';
import { RuleTestButton } from './RuleTestButton';

afterEach(cleanup);

/** Says when the permissions have loaded, so an absent button is not just a pending one. */
function PermissionsLoaded() {
  const { isPending } = usePermissions();
  return isPending ? null : <span>permissions loaded</span>;
}

const rule = { id: 'rule-1', name: 'Alerts', sources: { webhookIds: ['wh-1'] } };

function renderAs(
  role: string | null,
  action = vi.fn(async () => ({ matched: true, text: 'Hi' })),
) {
  const authProvider: AuthProvider = {
    login: async () => {},
    logout: async () => {},
    checkAuth: async () => {},
    checkError: async () => {},
    getPermissions: async () => role,
  };
  const dataProvider = { action } as unknown as NotifyProDataProvider;
  render(
    <AdminContext authProvider={authProvider} dataProvider={dataProvider}>
      <RecordContextProvider value={rule}>
        <RuleTestButton />
        <PermissionsLoaded />
      </RecordContextProvider>
    </AdminContext>,
  );
  return action;
}

describe('RuleTestButton', () => {
  it('lets a viewer test a rule, as the server allows (POST …/rules/{id}/test needs viewer)', async () => {
    const action = renderAs('viewer');
    fireEvent.click(await screen.findByRole('button', { name: 'np.rules.test' }));
    fireEvent.click(await screen.findByRole('button', { name: 'np.rules.run_test' }));
    await waitFor(() => expect(screen.getByTestId('rule-test-result')).toBeTruthy());
    expect(action).toHaveBeenCalledWith('rules', 'rule-1', 'test', {
      event: expect.objectContaining({ source: 'webhook', webhookId: 'wh-1' }),
    });
  });

  it('is not shown without a role in the organization', async () => {
    renderAs(null);
    await screen.findByText('permissions loaded');
    expect(screen.queryByRole('button', { name: 'np.rules.test' })).toBeNull();
  });
});
