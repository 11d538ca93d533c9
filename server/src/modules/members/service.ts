import { randomBytes } from 'node:crypto';
import type { AppDeps } from '../../app.js';
import type { Role } from '../../db/schema.js';
import { AppError, conflict, forbidden, notFound } from '../../errors.js';
import { atLeast, type Actor, type OrgContext } from '../../http/access.js';
import { auditRepository } from '../audit/repository.js';
import { hashPassword } from '../auth/service.js';
import { userRepository } from '../auth/repository.js';
import { orgRepository } from '../orgs/repository.js';
import { memberRepository } from './repository.js';

/** Nobody grants a role above their own, and only owners touch owners. */
function assertMayManage(ctx: OrgContext, targetRole: Role, newRole?: Role) {
  if (newRole && !atLeast(ctx.role, newRole))
    throw forbidden('You cannot grant a role above your own');
  if (targetRole === 'owner' && ctx.role !== 'owner') throw forbidden('Only owners manage owners');
  if (newRole === 'owner' && ctx.role !== 'owner') throw forbidden('Only owners make owners');
}

export function createMemberService({ db }: AppDeps) {
  return {
    list: (ctx: OrgContext) => memberRepository.list(db, ctx.orgId),

    async add(
      ctx: OrgContext,
      actor: Actor,
      input: { email: string; name: string; role: Role; password?: string | undefined },
    ) {
      assertMayManage(ctx, input.role, input.role);
      const generated = input.password ? undefined : randomBytes(12).toString('base64url');
      const passwordHash = await hashPassword(input.password ?? generated!);
      return db.transaction(async (tx) => {
        let user = await userRepository.findByEmail(tx, input.email);
        const created = !user;
        if (!user)
          user = await userRepository.insert(tx, {
            email: input.email,
            name: input.name,
            passwordHash,
            isSuperadmin: false,
          });
        if (await memberRepository.find(tx, ctx.orgId, user.id))
          throw conflict('This person is already a member');
        await orgRepository.addMember(tx, ctx.orgId, user.id, input.role);
        const member = { userId: user.id, email: user.email, name: user.name, role: input.role };
        await auditRepository.record(tx, ctx.orgId, actor, {
          action: 'member.add',
          targetType: 'member',
          targetId: user.id,
          after: member,
        });
        // A generated password is shown once, to hand to the new member.
        return { ...member, ...(created && generated ? { temporaryPassword: generated } : {}) };
      });
    },

    async changeRole(ctx: OrgContext, actor: Actor, userId: string, role: Role) {
      return db.transaction(async (tx) => {
        const member = await memberRepository.find(tx, ctx.orgId, userId);
        if (!member) throw notFound('Member');
        assertMayManage(ctx, member.role, role);
        if (
          member.role === 'owner' &&
          role !== 'owner' &&
          (await orgRepository.countOwners(tx, ctx.orgId)) <= 1
        ) {
          throw new AppError(
            'conflict',
            'The last owner cannot be demoted; make someone else owner first',
          );
        }
        await memberRepository.setRole(tx, ctx.orgId, userId, role);
        await auditRepository.record(tx, ctx.orgId, actor, {
          action: 'member.role_change',
          targetType: 'member',
          targetId: userId,
          before: { role: member.role },
          after: { role },
        });
        return { userId, email: member.email, name: member.name, role };
      });
    },

    async remove(ctx: OrgContext, actor: Actor, userId: string) {
      await db.transaction(async (tx) => {
        const member = await memberRepository.find(tx, ctx.orgId, userId);
        if (!member) throw notFound('Member');
        const self = actor.type === 'user' && actor.id === userId;
        if (!self) assertMayManage(ctx, member.role);
        if (member.role === 'owner' && (await orgRepository.countOwners(tx, ctx.orgId)) <= 1) {
          throw new AppError('conflict', 'The last owner cannot be removed');
        }
        await memberRepository.remove(tx, ctx.orgId, userId);
        await auditRepository.record(tx, ctx.orgId, actor, {
          action: 'member.remove',
          targetType: 'member',
          targetId: userId,
          before: member,
        });
      });
    },
  };
}
