import { Empty } from '../components/states';

export default function Messages() {
  return (
    <section>
      <h1>Messages</h1>
      <Empty>This page is being built.</Empty>
    </section>
  );
}
