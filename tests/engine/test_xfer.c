/* test_xfer.c: every transition of the transfer state machine, checked by
 * the exact sequence of actions it asks of the call (no sockets). */
#include <stdio.h>

#include <criterion/criterion.h>

#include "xfer.h"

static char log_buf[1024];
static int invite_result, reinvite_result;

static void logf_(const char *s)
{
	strncat(log_buf, s, sizeof(log_buf) - strlen(log_buf) - 1);
	strncat(log_buf, " ", sizeof(log_buf) - strlen(log_buf) - 1);
}

static void fake_notify(struct xfer *x, unsigned status, const char *reason, bool terminated)
{
	char s[64];

	(void)x;
	(void)reason;
	snprintf(s, sizeof(s), "notify%u%s", status, terminated ? "/term" : "");
	logf_(s);
}

static int fake_invite(struct xfer *x)
{
	(void)x;
	logf_("invite");
	return invite_result;
}

static void fake_drop(struct xfer *x)
{
	(void)x;
	logf_("drop");
}

static int fake_reinvite(struct xfer *x)
{
	(void)x;
	logf_("reinvite");
	return reinvite_result;
}

static void fake_ack(struct xfer *x)
{
	(void)x;
	logf_("ack");
}

static void fake_bye_endpoint(struct xfer *x)
{
	(void)x;
	logf_("byeB");
}

static void fake_bye_caller(struct xfer *x)
{
	(void)x;
	logf_("byeA");
}

static void fake_timer(struct xfer *x, uint32_t ms)
{
	char s[32];

	(void)x;
	snprintf(s, sizeof(s), "timer%u", ms);
	logf_(s);
}

static void fake_done(struct xfer *x, enum xfer_outcome o, unsigned status)
{
	char s[64];

	(void)x;
	snprintf(s, sizeof(s), "done:%s:%u", xfer_outcome_name(o), status);
	logf_(s);
}

static const struct xfer_ops ops = {
	.notify = fake_notify,
	.invite_target = fake_invite,
	.drop_target = fake_drop,
	.reinvite_caller = fake_reinvite,
	.ack_target = fake_ack,
	.bye_endpoint = fake_bye_endpoint,
	.bye_caller = fake_bye_caller,
	.timer = fake_timer,
	.on_done = fake_done,
};

static struct xfer x;

static void setup(void)
{
	log_buf[0] = 0;
	invite_result = reinvite_result = 0;
	xfer_init(&x, &ops, NULL, 30000);
}

/* Bring x to state s through the normal path, then clear the log. */
static void reach(enum xfer_state s)
{
	if (s >= XFER_TRYING)
		xfer_on_accepted(&x, false);
	if (s == XFER_RINGING)
		xfer_on_target_provisional(&x, 180, "Ringing");
	if (s >= XFER_BRIDGING)
		xfer_on_target_answered(&x);
	if (s == XFER_DONE)
		xfer_on_caller_answered(&x, true);
	cr_assert_eq(x.state, s, "reached %s, wanted %s", xfer_state_name(x.state),
		     xfer_state_name(s));
	log_buf[0] = 0;
}

#define expect(state_, actions)                                                         \
	do {                                                                            \
		cr_assert_str_eq(log_buf, actions);                                     \
		cr_assert_eq(x.state, state_, "state %s", xfer_state_name(x.state));    \
	} while (0)

TestSuite(xfer, .init = setup);

Test(xfer, idle_to_trying_on_accepted)
{
	xfer_on_accepted(&x, false);
	expect(XFER_TRYING, "timer30000 notify100 invite ");
	cr_assert(xfer_busy(&x));
}

Test(xfer, idle_to_trying_without_subscription)
{
	xfer_on_accepted(&x, true);
	expect(XFER_TRYING, "timer30000 invite ");
	xfer_on_target_provisional(&x, 180, "Ringing");
	expect(XFER_RINGING, "timer30000 invite ");
}

Test(xfer, trying_to_idle_when_no_route)
{
	invite_result = -1;
	xfer_on_accepted(&x, false);
	expect(XFER_IDLE, "timer30000 notify100 invite timer0 notify503/term done:unreachable:503 ");
	cr_assert(!xfer_busy(&x));
}

Test(xfer, trying_to_ringing_on_180)
{
	reach(XFER_TRYING);
	xfer_on_target_provisional(&x, 180, "Ringing");
	expect(XFER_RINGING, "notify180 ");
}

Test(xfer, trying_stays_on_100)
{
	reach(XFER_TRYING);
	xfer_on_target_provisional(&x, 100, "Trying");
	expect(XFER_TRYING, "");
	cr_assert(x.target_replied);
}

Test(xfer, ringing_notifies_each_provisional)
{
	reach(XFER_RINGING);
	xfer_on_target_provisional(&x, 183, "Session Progress");
	expect(XFER_RINGING, "notify183 ");
}

Test(xfer, trying_to_bridging_on_answer)
{
	reach(XFER_TRYING);
	xfer_on_target_answered(&x);
	expect(XFER_BRIDGING, "timer0 reinvite ");
}

Test(xfer, ringing_to_bridging_on_answer)
{
	reach(XFER_RINGING);
	xfer_on_target_answered(&x);
	expect(XFER_BRIDGING, "timer0 reinvite ");
}

Test(xfer, bridging_to_done_when_caller_accepts)
{
	reach(XFER_BRIDGING);
	xfer_on_caller_answered(&x, true);
	expect(XFER_DONE, "ack notify200/term byeB done:success:200 ");
	cr_assert(!x.subscribed);
}

Test(xfer, bridging_to_idle_when_caller_refuses)
{
	reach(XFER_BRIDGING);
	xfer_on_caller_answered(&x, false);
	expect(XFER_IDLE, "drop timer0 notify503/term done:reconnect_failed:503 ");
}

Test(xfer, bridging_to_idle_when_reinvite_cannot_be_sent)
{
	reach(XFER_RINGING);
	reinvite_result = -1;
	xfer_on_target_answered(&x);
	expect(XFER_IDLE, "timer0 reinvite drop timer0 notify503/term done:reconnect_failed:503 ");
}

Test(xfer, trying_to_idle_on_target_busy)
{
	reach(XFER_TRYING);
	xfer_on_target_failed(&x, 486, "Busy Here");
	expect(XFER_IDLE, "timer0 notify486/term done:target_failed:486 ");
}

Test(xfer, ringing_to_idle_on_target_decline)
{
	reach(XFER_RINGING);
	xfer_on_target_failed(&x, 603, "Decline");
	expect(XFER_IDLE, "timer0 notify603/term done:target_failed:603 ");
}

Test(xfer, ringing_to_idle_on_timeout_is_408)
{
	reach(XFER_RINGING);
	xfer_on_timeout(&x);
	expect(XFER_IDLE, "drop timer0 notify408/term done:no_answer:408 ");
}

Test(xfer, trying_to_idle_on_timeout_without_reply_is_503)
{
	reach(XFER_TRYING);
	xfer_on_timeout(&x);
	expect(XFER_IDLE, "drop timer0 notify503/term done:unreachable:503 ");
}

Test(xfer, trying_to_idle_on_endpoint_bye)
{
	reach(XFER_TRYING);
	xfer_on_endpoint_bye(&x);
	expect(XFER_IDLE, "timer0 drop byeA done:endpoint_hung_up:0 ");
}

Test(xfer, ringing_to_idle_on_endpoint_bye)
{
	reach(XFER_RINGING);
	xfer_on_endpoint_bye(&x);
	expect(XFER_IDLE, "timer0 drop byeA done:endpoint_hung_up:0 ");
}

Test(xfer, bridging_to_idle_on_endpoint_bye)
{
	reach(XFER_BRIDGING);
	xfer_on_endpoint_bye(&x);
	expect(XFER_IDLE, "timer0 drop byeA done:endpoint_hung_up:0 ");
}

Test(xfer, trying_to_idle_on_caller_bye)
{
	reach(XFER_TRYING);
	xfer_on_caller_bye(&x);
	expect(XFER_IDLE, "timer0 drop notify487/term byeB done:caller_hung_up:487 ");
}

Test(xfer, ringing_to_idle_on_caller_bye)
{
	reach(XFER_RINGING);
	xfer_on_caller_bye(&x);
	expect(XFER_IDLE, "timer0 drop notify487/term byeB done:caller_hung_up:487 ");
}

Test(xfer, bridging_to_idle_on_caller_bye)
{
	reach(XFER_BRIDGING);
	xfer_on_caller_bye(&x);
	expect(XFER_IDLE, "timer0 drop notify487/term byeB done:caller_hung_up:487 ");
}

Test(xfer, notify_481_ends_the_subscription_not_the_transfer)
{
	reach(XFER_RINGING);
	xfer_on_notify_response(&x, 481);
	xfer_on_target_provisional(&x, 183, "Session Progress");
	xfer_on_target_answered(&x);
	xfer_on_caller_answered(&x, true);
	expect(XFER_DONE, "timer0 reinvite ack byeB done:success:200 ");
}

Test(xfer, notify_200_keeps_the_subscription)
{
	reach(XFER_TRYING);
	xfer_on_notify_response(&x, 200);
	cr_assert(x.subscribed);
}

Test(xfer, a_failed_transfer_can_be_retried)
{
	reach(XFER_RINGING);
	xfer_on_target_failed(&x, 486, "Busy Here");
	log_buf[0] = 0;
	xfer_on_accepted(&x, false);
	expect(XFER_TRYING, "timer30000 notify100 invite ");
}

Test(xfer, late_events_are_ignored)
{
	/* Responses and timers that arrive after the outcome change nothing. */
	xfer_on_target_provisional(&x, 180, "Ringing");
	xfer_on_target_answered(&x);
	xfer_on_target_failed(&x, 486, "Busy Here");
	xfer_on_timeout(&x);
	xfer_on_caller_answered(&x, true);
	xfer_on_endpoint_bye(&x);
	xfer_on_caller_bye(&x);
	expect(XFER_IDLE, "");
	reach(XFER_DONE);
	xfer_on_accepted(&x, false);
	xfer_on_timeout(&x);
	xfer_on_caller_bye(&x);
	expect(XFER_DONE, "");
}

Test(xfer, transitions_are_counted)
{
	reach(XFER_DONE);
	cr_assert_eq(x.transitions[XFER_TRYING], 1);
	cr_assert_eq(x.transitions[XFER_BRIDGING], 1);
	cr_assert_eq(x.transitions[XFER_DONE], 1);
	cr_assert_str_eq(xfer_state_name(XFER_BRIDGING), "bridging");
}
