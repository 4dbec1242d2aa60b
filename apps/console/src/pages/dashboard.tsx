import { Empty } from '../components/states';

export default function Dashboard() {
  return (
    <section>
      <h1>Dashboard</h1>
      <Empty>This page is being built.</Empty>
    </section>
  );
}
