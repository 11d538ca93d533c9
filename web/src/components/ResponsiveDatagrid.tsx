import type { ReactNode } from 'react';
import { useMediaQuery, type Theme } from '@mui/material';
import { Datagrid, SimpleList, type RaRecord } from 'react-admin';

type RowText = (record: RaRecord) => ReactNode;

/** A table on wide screens, a one-line-per-record list on a phone. */
export function ResponsiveDatagrid({
  children,
  primaryText,
  secondaryText,
  tertiaryText,
  rowClick = 'show',
}: {
  children: ReactNode;
  primaryText: RowText;
  secondaryText?: RowText;
  tertiaryText?: RowText;
  rowClick?: 'show' | 'edit' | false;
}) {
  const isSmall = useMediaQuery<Theme>((theme) => theme.breakpoints.down('sm'));
  if (isSmall) {
    return (
      <SimpleList
        primaryText={primaryText}
        secondaryText={secondaryText}
        tertiaryText={tertiaryText}
        linkType={rowClick}
      />
    );
  }
  return (
    <Datagrid rowClick={rowClick} bulkActionButtons={false} sx={{ overflowX: 'auto' }}>
      {children}
    </Datagrid>
  );
}
