// SPDX-License-Identifier: GPL-2.0
/*
 * sendto and recvfrom, as __sys_sendto()/__sys_recvfrom() do them (those and
 * move_addr_to_kernel/user are not exported): a msghdr over the user buffer,
 * the address copied through a sockaddr_storage, O_NONBLOCK on the socket
 * file turned into MSG_DONTWAIT, sock_sendmsg()/sock_recvmsg().
 */
#include <linux/file.h>
#include <linux/net.h>
#include <linux/socket.h>
#include <linux/uaccess.h>
#include <linux/uio.h>

#include "genesys.h"

/* The socket arg[0] names, holding a reference on its file; *err if none. */
static struct socket *gsys_call_socket(struct gsys_call *c, struct file **filep,
				       int *err)
{
	struct file *f = gsys_call_fget(c);
	struct socket *sock;

	*filep = NULL;
	if (!f) {
		*err = -EBADF;
		return NULL;
	}
	sock = sock_from_file(f);
	if (!sock) {
		fput(f);
		*err = -ENOTSOCK;
		return NULL;
	}
	*filep = f;
	return sock;
}

int gsys_op_sendto(struct gsys_call *c)
{
	void __user *uaddr = u64_to_user_ptr(c->req.arg[4]);
	int addr_len = (int)c->req.arg[5];
	unsigned int flags = (unsigned int)c->req.arg[3];
	struct sockaddr_storage address;
	struct msghdr msg = {};
	struct socket *sock;
	struct iovec iov;
	struct file *f;
	int err;

	err = gsys_import_ubuf(ITER_SOURCE, u64_to_user_ptr(c->req.arg[1]),
			       c->req.arg[2], &iov, &msg.msg_iter);
	if (err)
		goto out;
	sock = gsys_call_socket(c, &f, &err);
	if (!sock)
		goto out;
	if (uaddr) {
		if (addr_len < 0 || addr_len > (int)sizeof(address)) {
			err = -EINVAL;
			goto out_put;
		}
		if (addr_len && copy_from_user(&address, uaddr, addr_len)) {
			err = -EFAULT;
			goto out_put;
		}
		msg.msg_name = (struct sockaddr *)&address;
		msg.msg_namelen = addr_len;
	}
	if (sock->file->f_flags & O_NONBLOCK)
		flags |= MSG_DONTWAIT;
	msg.msg_flags = flags;
	err = sock_sendmsg(sock, &msg);
out_put:
	fput(f);
out:
	c->ret = err;
	return GSYS_RUN_DONE;
}

/* move_addr_to_user(): truncate to the caller's length, report the full one. */
static int gsys_addr_to_user(struct gsys_call *c, const struct sockaddr_storage *kaddr,
			     int klen, void __user *uaddr, int __user *ulen)
{
	int len;

	/* a confined ring's length was read (and checked) once, before the call */
	if (c->have_addrlen)
		len = (int)c->addrlen;
	else if (get_user(len, ulen))
		return -EFAULT;
	if (len > klen)
		len = klen;
	if (len < 0)
		return -EINVAL;
	if (len && copy_to_user(uaddr, kaddr, len))
		return -EFAULT;
	return put_user(klen, ulen);
}

int gsys_op_recvfrom(struct gsys_call *c)
{
	void __user *uaddr = u64_to_user_ptr(c->req.arg[4]);
	int __user *ulen = u64_to_user_ptr(c->req.arg[5]);
	unsigned int flags = (unsigned int)c->req.arg[3];
	struct sockaddr_storage address;
	struct msghdr msg = {};
	struct socket *sock;
	struct iovec iov;
	struct file *f;
	int err, err2;

	err = gsys_import_ubuf(ITER_DEST, u64_to_user_ptr(c->req.arg[1]),
			       c->req.arg[2], &iov, &msg.msg_iter);
	if (err)
		goto out;
	sock = gsys_call_socket(c, &f, &err);
	if (!sock)
		goto out;
	msg.msg_name = uaddr ? (struct sockaddr *)&address : NULL;
	msg.msg_namelen = 0;
	if (sock->file->f_flags & O_NONBLOCK)
		flags |= MSG_DONTWAIT;
	err = sock_recvmsg(sock, &msg, flags);
	if (err >= 0 && uaddr) {
		err2 = gsys_addr_to_user(c, &address, msg.msg_namelen, uaddr, ulen);
		if (err2 < 0)
			err = err2;
	}
	fput(f);
out:
	c->ret = err;
	return GSYS_RUN_DONE;
}
