import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AppDeps } from '../../app.js';
import { access, actorOf } from '../../http/access.js';
import { loginBody, meResponse, orgSummary, sessionResponse, signupBody } from './schema.js';
import { SESSION_COOKIE } from './service.js';

export const authRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const { auth } = deps.services;
    const secure = deps.config.publicUrl.startsWith('https://');
    const setCookie = (reply: FastifyReply, token: string, expiresAt: Date) =>
      reply.setCookie(SESSION_COOKIE, token, {
        httpOnly: true,
        sameSite: 'lax',
        secure,
        path: '/',
        expires: expiresAt,
      });

    app.post('/auth/signup', {
      config: { ...access.public, rateLimit: { max: 20, timeWindow: '1 minute' } },
      schema: {
        tags: ['auth'],
        summary: 'Create an account and its organization',
        body: signupBody,
        response: { 201: sessionResponse.extend({ organization: orgSummary }) },
      },
      handler: async (request, reply) => {
        const result = await auth.signup(
          request.body,
          actorOf(request),
          request.headers['user-agent'] ?? null,
        );
        setCookie(reply, result.token, result.expiresAt);
        return reply.status(201).send(result);
      },
    });

    app.post('/auth/login', {
      config: {
        ...access.public,
        rateLimit: { max: deps.config.loginMaxPerIpPerMinute, timeWindow: '1 minute' },
      },
      schema: {
        tags: ['auth'],
        summary: 'Log in',
        body: loginBody,
        response: { 200: sessionResponse },
      },
      handler: async (request, reply) => {
        const result = await auth.login(
          request.body,
          request.ip,
          request.headers['user-agent'] ?? null,
        );
        setCookie(reply, result.token, result.expiresAt);
        return result;
      },
    });

    app.post('/auth/logout', {
      config: access.user,
      schema: { tags: ['auth'], summary: 'Revoke the current session' },
      handler: async (request, reply) => {
        await auth.logout(request.principal!);
        reply.clearCookie(SESSION_COOKIE, { path: '/' });
        return reply.status(204).send();
      },
    });

    app.get('/me', {
      config: access.user,
      schema: {
        tags: ['auth'],
        summary: 'The current user and their organizations',
        response: { 200: meResponse },
      },
      handler: async (request) => {
        const p = request.principal!;
        return auth.me(p.type === 'user' ? p.userId : '');
      },
    });
  };
