import { lazy, Suspense, useEffect, useState } from 'react';
import {
  Alert,
  Box,
  Card,
  CardContent,
  CardHeader,
  CircularProgress,
  Grid,
  Link,
  List,
  ListItem,
  ListItemText,
  Typography,
} from '@mui/material';
import { Title, useDataProvider, useGetList, useTranslate } from 'react-admin';
import { Link as RouterLink } from 'react-router-dom';
import type { NotifyProDataProvider } from '../../providers/dataProvider';
import { useFormatDateTime } from '../../components/DateTime';
import { formatMs, normalizeStats, type DashboardStats } from './stats';

const DeliveriesChart = lazy(() => import('./DeliveriesChart'));

const DAYS = 14;

function Metric({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <Card sx={{ height: '100%' }}>
      <CardContent>
        <Typography variant="overline" color="text.secondary">
          {label}
        </Typography>
        <Typography variant="h4" component="div">
          {value}
        </Typography>
        {hint ? (
          <Typography variant="caption" color="text.secondary">
            {hint}
          </Typography>
        ) : null}
      </CardContent>
    </Card>
  );
}

/** Stats for the last two weeks from `GET …/stats?from&to`. */
function useStats(): { stats: DashboardStats | null; error: string | null } {
  const dataProvider = useDataProvider<NotifyProDataProvider>();
  const [stats, setStats] = useState<DashboardStats | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let alive = true;
    const to = new Date();
    const from = new Date(to.getTime() - (DAYS - 1) * 86_400_000);
    from.setUTCHours(0, 0, 0, 0);
    dataProvider
      .stats({ from: from.toISOString(), to: to.toISOString() })
      .then((raw) => alive && setStats(normalizeStats(raw)))
      .catch((e: Error) => alive && setError(e.message));
    return () => {
      alive = false;
    };
  }, [dataProvider]);
  return { stats, error };
}

const listLink = (resource: string, filter?: Record<string, string>) =>
  `/${resource}${filter ? `?filter=${encodeURIComponent(JSON.stringify(filter))}` : ''}`;

function FailingNow() {
  const translate = useTranslate();
  const format = useFormatDateTime();
  const page = {
    pagination: { page: 1, perPage: 100 },
    sort: { field: 'name', order: 'ASC' as const },
  };
  const bots = useGetList('bots', page);
  const mailboxes = useGetList('mailboxes', page);
  const dead = useGetList('deliveries', {
    pagination: { page: 1, perPage: 1 },
    filter: { status: 'dead' },
    sort: { field: 'createdAt', order: 'DESC' },
  });
  const alerts = useGetList('alerts', {
    pagination: { page: 1, perPage: 20 },
    filter: { status: 'open' },
    sort: { field: 'openedAt', order: 'DESC' },
  });
  const openAlerts = alerts.data ?? [];
  const badBots = (bots.data ?? []).filter((b) => b.status === 'error');
  const badMailboxes = (mailboxes.data ?? []).filter((m) => m.lastError || m.status === 'error');
  const deadCount = dead.total ?? 0;
  const nothing =
    !bots.isPending &&
    !mailboxes.isPending &&
    !dead.isPending &&
    !alerts.isPending &&
    openAlerts.length + badBots.length + badMailboxes.length + deadCount === 0;
  return (
    <Card data-testid="failing-now">
      <CardHeader title={translate('np.dashboard.failing_now')} />
      <CardContent sx={{ pt: 0 }}>
        {nothing ? <Alert severity="success">{translate('np.dashboard.all_good')}</Alert> : null}
        {openAlerts.length > 0 ? (
          <Alert severity="error" icon={false} sx={{ mb: 1 }} data-testid="open-alerts">
            <Typography variant="subtitle2">
              {translate('np.dashboard.open_alerts', { smart_count: openAlerts.length })}
            </Typography>
            <List dense disablePadding>
              {openAlerts.map((a) => (
                <ListItem
                  key={a.id}
                  disableGutters
                  component={RouterLink}
                  to={
                    a.kind === 'bot'
                      ? `/bots/${a.subjectId}/show`
                      : a.kind === 'mailbox'
                        ? `/mailboxes/${a.subjectId}/show`
                        : listLink('deliveries', { status: 'dead' })
                  }
                  sx={{ color: 'inherit' }}
                >
                  <ListItemText
                    primary={translate(`np.dashboard.alert_${a.kind}`, { name: a.subjectName })}
                    secondary={[
                      a.detail,
                      translate('np.dashboard.alert_since', { time: format(a.openedAt) }),
                      a.lastNotifiedAt ? null : translate('np.dashboard.alert_not_told'),
                    ]
                      .filter(Boolean)
                      .join(' · ')}
                  />
                </ListItem>
              ))}
            </List>
          </Alert>
        ) : null}
        {badBots.length > 0 ? (
          <>
            <Link component={RouterLink} to={listLink('bots')} variant="subtitle2">
              {translate('np.dashboard.bots_in_error', { smart_count: badBots.length })}
            </Link>
            <List dense>
              {badBots.map((b) => (
                <ListItem
                  key={b.id}
                  component={RouterLink}
                  to={`/bots/${b.id}/show`}
                  sx={{ color: 'inherit' }}
                >
                  <ListItemText
                    primary={b.name}
                    secondary={`${b.lastError ?? ''} ${format(b.lastHeartbeatAt)}`}
                  />
                </ListItem>
              ))}
            </List>
          </>
        ) : null}
        {badMailboxes.length > 0 ? (
          <>
            <Link component={RouterLink} to={listLink('mailboxes')} variant="subtitle2">
              {translate('np.dashboard.mailboxes_in_error', { smart_count: badMailboxes.length })}
            </Link>
            <List dense>
              {badMailboxes.map((m) => (
                <ListItem
                  key={m.id}
                  component={RouterLink}
                  to={`/mailboxes/${m.id}/show`}
                  sx={{ color: 'inherit' }}
                >
                  <ListItemText primary={m.name} secondary={m.lastError} />
                </ListItem>
              ))}
            </List>
          </>
        ) : null}
        {deadCount > 0 ? (
          <Link
            component={RouterLink}
            to={listLink('deliveries', { status: 'dead' })}
            variant="subtitle2"
            display="block"
          >
            {translate('np.dashboard.dead_deliveries', { smart_count: deadCount })}
          </Link>
        ) : null}
      </CardContent>
    </Card>
  );
}

export function Dashboard() {
  const translate = useTranslate();
  const { stats, error } = useStats();
  const units = { ms: translate('np.dashboard.unit_ms'), s: translate('np.dashboard.unit_s') };
  const pct = stats?.successRate == null ? '—' : `${(stats.successRate * 100).toFixed(1)}%`;
  return (
    <Box sx={{ mt: 1 }}>
      <Title title={translate('np.dashboard.title')} />
      {error ? (
        <Alert severity="warning" sx={{ mb: 2 }}>
          {translate('np.dashboard.stats_error', { error })}
        </Alert>
      ) : null}
      <Grid container spacing={2}>
        <Grid size={{ xs: 6, md: 3 }}>
          <Metric
            label={translate('np.dashboard.success_rate')}
            value={pct}
            hint={translate('np.dashboard.last_days', { days: DAYS })}
          />
        </Grid>
        <Grid size={{ xs: 6, md: 3 }}>
          <Metric
            label={translate('np.dashboard.sent')}
            value={String(stats?.totals.sent ?? '—')}
          />
        </Grid>
        <Grid size={{ xs: 6, md: 3 }}>
          <Metric
            label={translate('np.dashboard.latency_p50')}
            value={formatMs(stats?.latencyP50Ms ?? null, units)}
          />
        </Grid>
        <Grid size={{ xs: 6, md: 3 }}>
          <Metric
            label={translate('np.dashboard.latency_p95')}
            value={formatMs(stats?.latencyP95Ms ?? null, units)}
          />
        </Grid>
        <Grid size={{ xs: 12, md: 8 }}>
          <Card>
            <CardHeader title={translate('np.dashboard.deliveries_per_day')} />
            <CardContent>
              {stats ? (
                stats.days.length > 0 ? (
                  <Suspense fallback={<CircularProgress />}>
                    <DeliveriesChart days={stats.days} />
                  </Suspense>
                ) : (
                  <Typography color="text.secondary">
                    {translate('np.dashboard.no_data')}
                  </Typography>
                )
              ) : error ? null : (
                <CircularProgress />
              )}
            </CardContent>
          </Card>
        </Grid>
        <Grid size={{ xs: 12, md: 4 }}>
          <FailingNow />
        </Grid>
      </Grid>
    </Box>
  );
}
