// SPDX-License-Identifier: GPL-2.0
/*
 * Deliberately broken, to prove the lab's verdict catches what the debug
 * kernel reports: `echo <bug> > /sys/module/lab_broken/parameters/trigger`
 * commits one bug. Used by `cargo lab selfcheck`, never by the suite.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>

static DEFINE_MUTEX(lock_a);
static DEFINE_MUTEX(lock_b);
static DEFINE_SPINLOCK(atomic_lock);

/* Read through a pointer the compiler cannot see is dangling. */
static noinline u8 read_byte(const u8 *p)
{
	return READ_ONCE(*p);
}

static void use_after_free(void)
{
	u8 *p = kmalloc(32, GFP_KERNEL);

	if (!p)
		return;
	kfree(p);
	pr_info("read %u after free\n", read_byte(p));
}

/* Where each new object's pointer goes, overwritten by the next one. */
static void *leak_sink;

static void leak(void)
{
	int i;

	/*
	 * Eight objects, each forgotten once the next is stored: a stale copy of
	 * a pointer (a freed stack, a register spill) can hide one from kmemleak,
	 * not all of them.
	 */
	for (i = 0; i < 8; i++)
		WRITE_ONCE(leak_sink, kmalloc(128, GFP_KERNEL));
	pr_info("leaked 8 objects of 128 bytes\n");
}

static void lock_order_inversion(void)
{
	mutex_lock(&lock_a);
	mutex_lock(&lock_b);
	mutex_unlock(&lock_b);
	mutex_unlock(&lock_a);
	/* The reverse order: lockdep reports the possible deadlock. */
	mutex_lock(&lock_b);
	mutex_lock(&lock_a);
	mutex_unlock(&lock_a);
	mutex_unlock(&lock_b);
}

static void sleep_in_atomic(void)
{
	void *p;

	/*
	 * GFP_KERNEL may sleep: DEBUG_ATOMIC_SLEEP reports it under a spinlock
	 * even when this allocation does not sleep (msleep() would, and be
	 * reported as "scheduling while atomic" instead).
	 */
	spin_lock(&atomic_lock);
	p = kmalloc(64, GFP_KERNEL);
	spin_unlock(&atomic_lock);
	kfree(p);
}

static int index_out_of_bounds(int i)
{
	int table[4] = { 1, 2, 3, 4 };

	return table[i];
}

static int trigger_set(const char *val, const struct kernel_param *kp)
{
	if (sysfs_streq(val, "uaf"))
		use_after_free();
	else if (sysfs_streq(val, "leak"))
		leak();
	else if (sysfs_streq(val, "lockorder"))
		lock_order_inversion();
	else if (sysfs_streq(val, "sleep"))
		sleep_in_atomic();
	else if (sysfs_streq(val, "ubsan"))
		pr_info("table[4] is %d\n", index_out_of_bounds(4 + (val[0] == 0)));
	else if (!sysfs_streq(val, "none"))
		return -EINVAL;
	return 0;
}

static const struct kernel_param_ops trigger_ops = {
	.set = trigger_set,
};
module_param_cb(trigger, &trigger_ops, NULL, 0200);
MODULE_PARM_DESC(trigger, "uaf, leak, lockorder, sleep, ubsan or none");

MODULE_DESCRIPTION("Deliberate bugs for the lab's health check");
MODULE_LICENSE("GPL");
