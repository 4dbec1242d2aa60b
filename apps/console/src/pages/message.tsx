import { Empty } from '../components/states';

export default function Message() {
  return (
    <section>
      <h1>Message</h1>
      <Empty>This page is being built.</Empty>
    </section>
  );
}
