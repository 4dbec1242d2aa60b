import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { apiContext, type ApiContext } from './context';

/** The request's validated path parameters, query or body (as the route's schemas output them). */
export const Input = createParamDecorator(
  (what: 'params' | 'query' | 'body', ctx: ExecutionContext): unknown =>
    apiContext(ctx.switchToHttp().getRequest<Request>())[what],
);

/** The request's API context: the caller, and what the audit records. */
export const Ctx = createParamDecorator((_: unknown, ctx: ExecutionContext): ApiContext =>
  apiContext(ctx.switchToHttp().getRequest<Request>()),
);
